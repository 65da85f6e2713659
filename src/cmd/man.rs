//! `dhcpnet man`: the man page (roff) on stdout; `dhcpnet man --out-dir DIR`
//! writes it and one page per subcommand (dhcpnet-probe.1 ...). The files in
//! `man/` are this output, checked by a test.

use clap::CommandFactory;

use crate::cli::{Cli, ManArgs};
use crate::error::{EXIT_CODES_HELP, Error, Result};
use crate::output;

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

/// Pages for each subcommand (and nested ones), named dhcpnet-SUB[-SUB].1.
pub fn subcommand_pages() -> Result<Vec<(String, Vec<u8>)>> {
    fn walk(prefix: &str, cmd: &clap::Command, out: &mut Vec<(String, Vec<u8>)>) -> Result<()> {
        for sub in cmd
            .get_subcommands()
            .filter(|s| s.get_name() != "help" && !s.is_hide_set())
        {
            let name = format!("{prefix}-{}", sub.get_name());
            let page = sub
                .clone()
                .name(name.clone())
                .bin_name(name.replace('-', " "));
            let mut buf = Vec::new();
            clap_mangen::Man::new(page.clone())
                .render(&mut buf)
                .map_err(|e| Error::Other(format!("cannot render the man page of {name}: {e}")))?;
            out.push((format!("{name}.1"), buf));
            walk(&name, &page, out)?;
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk("dhcpnet", &Cli::command(), &mut out)?;
    Ok(out)
}

pub fn run(a: ManArgs) -> Result<()> {
    match a.out_dir {
        None => output::write_stdout(&generate()?),
        Some(dir) => {
            let io = |e: std::io::Error| {
                Error::Other(format!("cannot write man pages to {}: {e}", dir.display()))
            };
            std::fs::create_dir_all(&dir).map_err(io)?;
            std::fs::write(dir.join("dhcpnet.1"), generate()?).map_err(io)?;
            for (name, page) in subcommand_pages()? {
                std::fs::write(dir.join(name), page).map_err(io)?;
            }
            Ok(())
        }
    }
}
