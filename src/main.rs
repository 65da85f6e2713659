use std::io::Write;

fn main() {
    let cli = dhcpnet::cli::Cli::parse_args();
    if matches!(cli.command, dhcpnet::cli::Command::Daemon(_)) {
        // SAFETY: nothing but this thread exists yet (no runtime, no
        // logger, no child), as `take_environment` requires.
        unsafe { dhcpnet::daemon::activation::take_environment() };
    }
    dhcpnet::logging::init(cli.global.verbose, cli.global.quiet);
    // One-shot commands hand their packet sockets' slow teardown to a child
    // (see net::packet::finish); a long-running process closes them itself.
    if one_shot(&cli.command) {
        dhcpnet::net::packet::defer_close();
    }
    let result = dhcpnet::cmd::run(cli);
    let code = match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("dhcpnet: error: {e}");
            e.process_code()
        }
    };
    let _ = std::io::stdout().flush();
    dhcpnet::net::packet::finish();
    std::process::exit(code);
}

/// Commands that run once and exit. Deliberately exhaustive: a new command
/// must decide.
fn one_shot(c: &dhcpnet::cli::Command) -> bool {
    use dhcpnet::cli::Command::*;
    match c {
        Probe(_) | Lease(_) | Release(_) | Leases(_) | Renew(_) | Completions(_) | Man(_) => true,
        Vlan(_) | Shim(_) | Restore(_) => true,
        Daemon(_) => false,
        Create(_) | Rm(_) | Delete(_) | Doctor(_) => true,
        // Runs until stopped: close its socket when done.
        Watch(_) => false,
        // `docker run` may stay attached for hours: close sockets when done.
        Run(_) => false,
    }
}
