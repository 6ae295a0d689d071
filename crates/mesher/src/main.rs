//! The `mesher` binary: configuration, the CLI, and `serve`.

mod alert_commands;
mod cli;
mod commands;
mod load;
mod serve;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

/// mimalloc rather than the system allocator: ingesting an event allocates and frees a few
/// hundred small objects (JSON values, strings, vectors) across threads, which glibc's malloc
/// serves noticeably slower (see docs/PERFORMANCE.md). Tuned for memory by [`tune_allocator`].
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

unsafe extern "C" {
    /// mimalloc's `mi_option_set` (in the static library the `mimalloc` crate links).
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// mimalloc's defaults favour speed over resident memory: freed memory is returned to the OS
/// only after a delay, arenas are committed eagerly and transparent huge pages are allowed,
/// which together tripled the idle RSS. Freed memory is returned at once, arenas are committed
/// on demand and huge pages are disabled: the speed stays and the RSS stays low.
fn tune_allocator() {
    // `mi_option_e` of mimalloc v3 (libmimalloc-sys 0.1.49, pinned by Cargo.lock): check these
    // numbers against `include/mimalloc.h` when upgrading.
    const ARENA_EAGER_COMMIT: std::ffi::c_int = 4;
    const PURGE_DELAY: std::ffi::c_int = 15;
    const ALLOW_THP: std::ffi::c_int = 43;
    // SAFETY: setting an option is a store into mimalloc's option table; any value is valid
    // for these three, and they take effect on the allocator's next decision.
    unsafe {
        mi_option_set(ARENA_EAGER_COMMIT, 0);
        mi_option_set(PURGE_DELAY, 0);
        mi_option_set(ALLOW_THP, 0);
    }
    disable_transparent_huge_pages();
}

/// mimalloc turns huge pages off for the process only while it initializes, before `main` can
/// set its option, and its first arena is by then advised for huge pages: on a kernel in THP
/// `madvise` mode (Debian's default) every 4 KiB touched in that arena made 2 MiB resident, and
/// the full SDK corpus peaked at 220–300 MiB instead of about 65 (issue 13). The process-wide
/// flag overrides the advice, for memory mapped before and after.
#[cfg(target_os = "linux")]
fn disable_transparent_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes an integer flag and no pointers; it only sets a flag on
    // this process's memory descriptor.
    let done = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if done != 0 {
        // Not fatal: the node only uses more memory.
        eprintln!(
            "warning: cannot disable transparent huge pages: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn disable_transparent_huge_pages() {}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let settings = load::settings(&cli.global)?;
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve::serve(settings).await,
            other => commands::run(settings, other, cli.global.json).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, the whole cause chain, no backtrace: this is what an operator reads.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
