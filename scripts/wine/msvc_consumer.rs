//! A program of the MSVC ABI (`x86_64-pc-windows-msvc`), linked by lld-link (Microsoft's
//! `link.exe` command line and COFF import-library reader) against the bundle's
//! `client_verifier.lib`: what a Visual Studio build does, short of Visual Studio itself. No C
//! runtime, so nothing but Windows and the DLL is needed. Exits with 40 + the DLL's C ABI
//! version. Built and run under Wine by scripts/test-verifier-cross.sh.
#![no_std]
#![no_main]

#[link(name = "client_verifier")]
unsafe extern "C" {
    fn cv_abi_version() -> u32;
}

#[link(name = "kernel32")]
unsafe extern "system" {
    fn ExitProcess(code: u32) -> !;
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // SAFETY: ExitProcess ends the process; it takes any code.
    unsafe { ExitProcess(99) }
}

/// The entry point (`/ENTRY:mainCRTStartup`).
#[unsafe(no_mangle)]
pub extern "C" fn mainCRTStartup() -> ! {
    // SAFETY: both are plain C functions of the DLL and of Windows, without arguments to check.
    unsafe { ExitProcess(40 + cv_abi_version()) }
}
