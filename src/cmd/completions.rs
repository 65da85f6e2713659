//! `dhcpnet completions SHELL`: the completion script on stdout. The files in
//! `completions/` are this output, checked by a test.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::error::Result;
use crate::output;

pub fn generate(shell: clap_complete::Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "dhcpnet", &mut out);
    out
}

pub fn run(a: CompletionsArgs) -> Result<()> {
    output::write_stdout(&generate(a.shell))
}
