//! The README's walk-through, run as written: every command of the "Five minutes with the
//! marketplace simulator" block goes through bash in a fresh directory against the built
//! binaries, and every output line the README shows (but the ones it shortens with `…`) must
//! appear in what that command printed. A README that drifts from the tools fails here.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One `$ ` command of the block (continuation lines joined) and the output lines shown for it.
struct Step {
    command: String,
    expected: Vec<String>,
}

fn walkthrough() -> Vec<Step> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("## Five minutes with the marketplace simulator")
        .nth(1)
        .expect("the walk-through section");
    let block = section
        .split("```console\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("its console block");
    let mut steps: Vec<Step> = Vec::new();
    let mut continuing = false;
    for line in block.lines() {
        if continuing {
            let step = steps.last_mut().unwrap();
            step.command.push('\n');
            step.command.push_str(line);
            continuing = line.ends_with('\\');
        } else if let Some(cmd) = line.strip_prefix("$ ") {
            steps.push(Step {
                command: cmd.to_string(),
                expected: Vec::new(),
            });
            continuing = cmd.ends_with('\\');
        } else if !line.is_empty() && !line.starts_with('#') && !line.contains('…') {
            steps
                .last_mut()
                .expect("output after a command")
                .expected
                .push(line.to_string());
        }
    }
    steps
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What must match of an expected line: sizes and timings of backups vary, the counts do not.
fn stable_part(line: &str) -> &str {
    match line.find(" records") {
        Some(i) if line.contains(" kB") => &line[..i + " records".len()],
        _ => line,
    }
}

/// Runs the walk-through's first `steps` commands (all when `None`) through bash in `cwd`, with
/// this test's binaries and the public address `addr`; stdout with the step markers, and
/// everything printed. Fails if bash is still running after `within`: a walk-through that hangs
/// is a failure, not a stuck CI.
fn run_walkthrough(
    cwd: &Path,
    addr: &str,
    steps: Option<usize>,
    within: Duration,
) -> (String, String) {
    let all = walkthrough();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_licd")).parent().unwrap();
    let admin = format!("127.0.0.1:{}", free_port());
    let mut script = String::from("trap 'kill $(jobs -p) 2>/dev/null' EXIT\n");
    for (i, step) in all.iter().enumerate().take(steps.unwrap_or(usize::MAX)) {
        // The lines that are about where things live: this test's binaries and a free port
        // instead of the repository's and 8080.
        let command = match step.command.as_str() {
            c if c.starts_with("export PATH=") => {
                format!("export PATH=\"{}:$PATH\"", bin_dir.display())
            }
            "ADDR=127.0.0.1:8080" => format!("ADDR={addr}"),
            c => c.to_string(),
        };
        script.push_str(&format!("echo '@@@ {i}'\n{command}\n"));
    }
    script.push_str("echo '@@@ end'\n");
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(cwd)
        .env("LICD_ADMIN_LISTEN", &admin)
        .env("LICD_ADMIN_URL", format!("http://{admin}"))
        .env_remove("LICD_ACCESS_KEY")
        .env_remove("LICD_ADMIN_TOKEN")
        .env_remove("LICD_DATA_DIR")
        .env_remove("LICD_KEYS_DIR")
        .env_remove("LICD_LISTEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + within;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the walk-through hung for {within:?}:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let text = stdout.clone() + &String::from_utf8_lossy(&out.stderr);
    (stdout, text)
}

fn check_walkthrough(addr: &str, stdout: &str, text: &str) {
    assert!(
        stdout.contains("@@@ end"),
        "the walk-through stopped early:\n{text}"
    );
    for (i, step) in walkthrough().iter().enumerate() {
        let printed = stdout
            .split(&format!("@@@ {i}\n"))
            .nth(1)
            .and_then(|rest| rest.split("@@@ ").next())
            .unwrap_or("");
        for line in &step.expected {
            let line = line.replace("127.0.0.1:8080", addr);
            assert!(
                printed.contains(stable_part(&line)),
                "`{}` did not print {line:?}; it printed:\n{printed}\n(whole run:\n{text})",
                step.command
            );
        }
    }
}

#[test]
fn the_readme_walkthrough_runs_as_written_and_again() {
    for tool in ["bash", "curl", "jq"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(found, "the walk-through needs {tool} (CI installs it)");
    }
    assert!(
        walkthrough().len() > 20,
        "only {} commands found",
        walkthrough().len()
    );
    // Twice from the same directory, as someone who pastes it again would.
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let addr = format!("127.0.0.1:{}", free_port());
        let (stdout, text) = run_walkthrough(dir.path(), &addr, None, Duration::from_secs(120));
        check_walkthrough(&addr, &stdout, &text);
    }
}

#[test]
fn the_walkthrough_says_so_when_its_port_is_taken_instead_of_waiting_forever() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let upto = walkthrough()
        .iter()
        .position(|s| s.command.starts_with("grep -o 'listening"))
        .expect("the step that shows the address")
        + 1;
    let dir = tempfile::tempdir().unwrap();
    let (stdout, text) = run_walkthrough(dir.path(), &addr, Some(upto), Duration::from_secs(30));
    assert!(stdout.contains("@@@ end"), "{text}");
    assert!(
        stdout.contains(&format!("cannot listen on {addr}")),
        "the log's reason is shown: {text}"
    );
}

/// The README's dependency line, in an application outside this repository that copied
/// `client-verifier/` where the line says: cargo resolves it (a workspace-inherited field would
/// not).
#[test]
fn the_verifier_dependency_line_works_outside_this_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let section = readme.split("## Linking the verifier").nth(1).unwrap();
    let line = section
        .lines()
        .find(|l| l.starts_with("client-verifier = {"))
        .expect("the dependency line");
    let path = line
        .split("path = \"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a path dependency");
    let app = tempfile::tempdir().unwrap();
    copy_dir(&root.join("client-verifier"), &app.path().join(path));
    std::fs::create_dir_all(app.path().join("src")).unwrap();
    std::fs::write(app.path().join("src/main.rs"), "fn main() {}\n").unwrap();
    std::fs::write(
        app.path().join("Cargo.toml"),
        format!(
            "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\n{line}\n"
        ),
    )
    .unwrap();
    // Offline: resolved from what this machine has; no crate is built.
    let out = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "-e", "normal", "--prefix", "none"])
        .current_dir(app.path())
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.contains("client-verifier v0.1.0"), "{tree}");

    // Its lints are spelled out, not inherited: they must stay the workspace's.
    let lints = |file: &Path, table: &[&str]| {
        let doc: toml::Value = toml::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        table.iter().fold(doc, |v, k| v[k].clone())
    };
    assert_eq!(
        lints(&root.join("client-verifier/Cargo.toml"), &["lints"]),
        lints(&root.join("Cargo.toml"), &["workspace", "lints"])
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != "target" {
                copy_dir(&entry.path(), &target);
            }
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The bundle README's C# command, run as written in a directory laid out as the bundle's
/// `csharp/` is (what `scripts/dist-verifier.sh` copies there): it must build `Example.exe`
/// from those two files alone. Needs Mono's `mcs`: `.ci/run` installs it and runs this.
#[test]
#[ignore = "needs Mono's mcs; .ci/run installs it and runs this after the bundle test"]
fn the_bundle_readme_csharp_command_builds_from_the_bundle_alone() {
    let has_mcs = Command::new("sh")
        .args(["-c", "command -v mcs"])
        .output()
        .is_ok_and(|o| o.status.success());
    // Run only when asked (it is ignored otherwise): without mcs it fails rather than pass.
    assert!(
        has_mcs,
        "this test needs Mono's C# compiler: apt-get install mono-mcs"
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("client-verifier");
    let readme = std::fs::read_to_string(root.join("dist/README.md")).unwrap();
    let command = readme
        .split('`')
        .find(|part| part.starts_with("mcs "))
        .expect("an mcs command in the bundle README");
    let dist = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/dist-verifier.sh"),
    )
    .unwrap();
    let csharp = tempfile::tempdir().unwrap();
    for file in ["ClientVerifier.cs", "Example.cs"] {
        assert!(
            dist.contains(&format!("bindings/csharp/{file}")),
            "the bundle ships {file}"
        );
        std::fs::copy(
            root.join("bindings/csharp").join(file),
            csharp.path().join(file),
        )
        .unwrap();
    }
    let out = Command::new("bash")
        .args(["-c", command])
        .current_dir(csharp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "`{command}` failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(csharp.path().join("Example.exe").exists());
}
