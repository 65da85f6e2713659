//! `dhcpnet man`: the man page (roff) on stdout. `man/dhcpnet.1` is this
//! output, checked by a test.

use clap::CommandFactory;

use crate::cli::{Cli, ManArgs};
use crate::error::{EXIT_CODES_HELP, Error, Result};

pub fn generate() -> Result<Vec<u8>> {
    let cmd = Cli::command();
    let man = clap_mangen::Man::new(cmd.clone());
    let mut out = Vec::new();
    let io = |e: std::io::Error| Error::Other(format!("cannot render the man page: {e}"));
    man.render_title(&mut out).map_err(io)?;
    man.render_name_section(&mut out).map_err(io)?;
    man.render_synopsis_section(&mut out).map_err(io)?;
    man.render_description_section(&mut out).map_err(io)?;
    man.render_options_section(&mut out).map_err(io)?;
    man.render_subcommands_section(&mut out).map_err(io)?;
    out.extend_from_slice(b".SH \"EXIT STATUS\"\n");
    for line in EXIT_CODES_HELP.lines().skip(1) {
        let line = line.trim();
        if let Some((code, text)) = line.split_once(char::is_whitespace) {
            out.extend_from_slice(format!(".TP\n{code}\n{}\n", text.trim()).as_bytes());
        }
    }
    out.extend_from_slice(
        b".SH ENVIRONMENT\n.TP\nDHCPNET_STATE_DIR\nState directory (default /var/lib/dhcpnet), as --state-dir.\n",
    );
    man.render_version_section(&mut out).map_err(io)?;
    Ok(out)
}

pub fn run(_a: ManArgs) -> Result<()> {
    use std::io::Write;
    std::io::stdout().write_all(&generate()?).map_err(|e| Error::Other(format!("cannot write to stdout: {e}")))
}
