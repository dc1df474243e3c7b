//! The command-line skeleton of `echo_server`, `echo_client`, `wss_server` and `wss_client`: help,
//! and how a usage error ends the program. Each includes it with
//! `#[path = "common/cli.rs"] mod cli;`.

use std::process::ExitCode;

/// Parses the program's arguments with `parse`. With `-h` or `--help` anywhere among them, prints
/// `usage` on stdout and returns exit status 0 instead; an error from `parse` goes through
/// [`usage_error`].
pub fn parse<T>(
    name: &str,
    usage: &str,
    parse: impl FnOnce(std::vec::IntoIter<String>) -> Result<T, String>,
) -> Result<T, ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{usage}");
        return Err(ExitCode::SUCCESS);
    }
    parse(args.into_iter()).map_err(|msg| usage_error(name, usage, &msg))
}

/// Prints `NAME: MSG` and the usage on stderr; returns exit status 2.
pub fn usage_error(name: &str, usage: &str, msg: &str) -> ExitCode {
    eprintln!("{name}: {msg}\n{usage}");
    ExitCode::from(2)
}
