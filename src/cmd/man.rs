//! `dhcpnet man`: the man page (roff) on stdout; `dhcpnet man --out-dir DIR`
//! writes it and one page per subcommand (dhcpnet-probe.1 ...). The files in
//! `man/` are this output, checked by a test.

use clap::CommandFactory;

use crate::cli::{Cli, ENVIRONMENT, ManArgs};
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
    examples_section(&cmd, &mut out);
    out.extend_from_slice(b".SH \"EXIT STATUS\"\n");
    for line in EXIT_CODES_HELP.lines().skip(1) {
        let line = line.trim();
        match line.split_once(char::is_whitespace) {
            Some((code, text)) if code.bytes().all(|b| b.is_ascii_digit()) => {
                out.extend_from_slice(format!(".TP\n{code}\n{}\n", roff(text.trim())).as_bytes());
            }
            _ => out.extend_from_slice(format!(".PP\n{}\n", roff(line)).as_bytes()),
        }
    }
    out.extend_from_slice(b".SH ENVIRONMENT\n");
    for (name, what) in ENVIRONMENT {
        out.extend_from_slice(format!(".TP\n\\fB{}\\fR\n{}\n", roff(name), roff(what)).as_bytes());
    }
    man.render_version_section(&mut out).map_err(io)?;
    Ok(out)
}

/// Text escaped for roff: backslashes and minus signs, and a line that
/// would start with a control character.
fn roff(text: &str) -> String {
    let s = text.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}

/// An EXAMPLES section from the command's `after_help` ("Examples:" and
/// indented lines), kept as lines (no filling).
fn examples_section(cmd: &clap::Command, out: &mut Vec<u8>) {
    let Some(help) = cmd.get_after_help().map(|h| h.to_string()) else {
        return;
    };
    let Some(body) = help.strip_prefix("Examples:\n") else {
        return;
    };
    out.extend_from_slice(b".SH EXAMPLES\n.nf\n.RS 4\n");
    for line in body.lines() {
        out.extend_from_slice(format!("{}\n", roff(line.trim())).as_bytes());
    }
    out.extend_from_slice(b".RE\n.fi\n");
}

/// One subcommand's page: as clap_mangen renders it, with EXAMPLES (from
/// `after_help`) in place of its EXTRA section.
fn page(cmd: &clap::Command) -> std::io::Result<Vec<u8>> {
    let man = clap_mangen::Man::new(cmd.clone());
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut out)?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(&mut out)?;
    }
    examples_section(cmd, &mut out);
    if cmd.get_version().is_some() || cmd.get_long_version().is_some() {
        man.render_version_section(&mut out)?;
    }
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
            let buf = self::page(&page)
                .map_err(|e| Error::Other(format!("cannot render the man page of {name}: {e}")))?;
            out.push((format!("{name}.1"), buf));
            walk(&name, &page, out)?;
        }
        Ok(())
    }
    let mut out = Vec::new();
    // Built, so that each page lists the global options (-o, --state-dir ...) too.
    let mut root = Cli::command();
    root.build();
    walk("dhcpnet", &root, &mut out)?;
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
