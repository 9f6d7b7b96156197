package clientverifier;

import com.sun.jna.Pointer;
import java.lang.ref.Cleaner;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

/**
 * A native handle freed exactly once: by {@code close()}, or by the cleaner when its owner
 * becomes unreachable. The library ignores a handle it did not make or already freed, so even
 * a race here could not free twice; this only keeps the object from using a freed handle.
 */
final class Handle implements AutoCloseable {
    private static final Cleaner CLEANER = Cleaner.create();

    private final AtomicReference<Pointer> pointer;
    private final Cleaner.Cleanable cleanable;

    Handle(Object owner, Pointer p, Consumer<Pointer> free) {
        AtomicReference<Pointer> ref = new AtomicReference<>(p);
        this.pointer = ref;
        // The cleaning action must not capture `owner` or `this`.
        this.cleanable = CLEANER.register(owner, () -> {
            Pointer q = ref.getAndSet(null);
            if (q != null) {
                free.accept(q);
            }
        });
    }

    /** The live pointer; {@link IllegalStateException} once closed. */
    Pointer get(String what) {
        Pointer p = pointer.get();
        if (p == null) {
            throw new IllegalStateException(what + " is closed");
        }
        return p;
    }

    @Override
    public void close() {
        cleanable.clean();
    }
}
