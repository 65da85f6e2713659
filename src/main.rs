use clap::Parser;

fn main() {
    let cli = dhcpnet::cli::Cli::parse();
    dhcpnet::logging::init(cli.global.verbose, cli.global.quiet);
    if let Err(e) = dhcpnet::cmd::run(cli) {
        eprintln!("dhcpnet: error: {e}");
        std::process::exit(e.exit_code() as i32);
    }
}
