//! The Debian package (`[package.metadata.deb]` in Cargo.toml, built with
//! cargo-deb from scripts/setup.sh). To stay fast, the test packages the
//! binary `cargo test` just built (`cargo deb --no-build` with a target
//! directory of its own holding it as `release/dhcpnet`); a release package
//! is `cargo deb`. The package is unpacked with `dpkg -x` into a throwaway
//! root, and installed for real with `dpkg -i` then purged (never over a
//! dhcpnet the machine already has). Skipped without cargo-deb or
//! dpkg-deb, except under CI=true where that is a failure.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The package built from the binary `cargo test` just built, in a
/// temporary directory (kept alive by the returned handle); None when
/// cargo-deb or dpkg-deb is missing (skipped; under CI=true a failure).
fn build_package() -> Option<(tempfile::TempDir, std::path::PathBuf)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let has_cargo_deb = Command::new(&cargo)
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_cargo_deb || common::which("dpkg-deb").is_none() {
        common::skip("cargo-deb or dpkg-deb missing (scripts/setup.sh installs them)");
        return None;
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("target");
    std::fs::create_dir_all(target.join("release")).unwrap();
    std::fs::copy(
        env!("CARGO_BIN_EXE_dhcpnet"),
        target.join("release/dhcpnet"),
    )
    .unwrap();
    let out = tmp.path().join("out");
    run(Command::new(&cargo)
        .args([
            "deb",
            "--no-build",
            "--fast",
            "--offline",
            "--manifest-path",
        ])
        .arg(manifest.join("Cargo.toml"))
        .arg("--output")
        .arg(&out)
        .env("CARGO_TARGET_DIR", &target));
    let debs: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    assert_eq!(debs.len(), 1, "{debs:?}");
    let deb = debs[0].clone();
    Some((tmp, deb))
}

#[test]
fn the_debian_package_holds_binary_unit_man_pages_and_completions_and_its_dhcpnet_runs() {
    let Some((tmp, deb)) = build_package() else {
        return;
    };
    let deb = &deb;
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let name = deb.file_name().unwrap().to_string_lossy().to_string();
    assert!(
        name.starts_with(&format!("dhcpnet_{}-", env!("CARGO_PKG_VERSION"))),
        "{name}"
    );

    // Contents: (mode, path) of each entry.
    let listing = run(Command::new("dpkg-deb").arg("-c").arg(deb));
    let entries: Vec<(String, String)> = listing
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.first()?.to_string(), f.get(5)?.to_string()))
        })
        .collect();
    let mode = |path: &str| {
        entries
            .iter()
            .find(|(_, p)| p == path)
            .map(|(m, _)| m.clone())
            .unwrap_or_else(|| panic!("{path} is not in the package:\n{listing}"))
    };
    assert_eq!(mode("./usr/bin/dhcpnet"), "-rwxr-xr-x");
    assert_eq!(
        mode("./usr/lib/systemd/system/dhcpnet.service"),
        "-rw-r--r--"
    );
    // The socket unit (socket activation, before docker.service) too.
    assert_eq!(
        mode("./usr/lib/systemd/system/dhcpnet.socket"),
        "-rw-r--r--"
    );
    for path in [
        "./usr/share/bash-completion/completions/dhcpnet",
        "./usr/share/zsh/vendor-completions/_dhcpnet",
        "./usr/share/fish/vendor_completions.d/dhcpnet.fish",
    ] {
        assert_eq!(mode(path), "-rw-r--r--", "{path}");
    }
    let mut pages = 0;
    for page in std::fs::read_dir(manifest.join("man")).unwrap().flatten() {
        let page = page.file_name().to_string_lossy().to_string();
        if page.ends_with(".1") {
            assert_eq!(
                mode(&format!("./usr/share/man/man1/{page}.gz")),
                "-rw-r--r--"
            );
            pages += 1;
        }
    }
    assert!(pages >= 10, "only {pages} man pages in man/");

    // Control: what it needs, and no unit enabled or started on install
    // (an upgrade restarts it only if it was running).
    let control = run(Command::new("dpkg-deb").arg("-f").arg(deb));
    assert!(control.contains("Package: dhcpnet\n"), "{control}");
    assert!(control.contains("Depends: libc6"), "{control}");
    let ctl = tmp.path().join("control");
    run(Command::new("dpkg-deb").arg("-e").arg(deb).arg(&ctl));
    let postinst = std::fs::read_to_string(ctl.join("postinst")).unwrap();
    assert!(postinst.contains("dhcpnet.service"), "{postinst}");
    assert!(postinst.contains("dhcpnet.socket"), "{postinst}");
    for never in [
        "deb-systemd-invoke start",
        "deb-systemd-invoke restart",
        "systemctl enable",
        "systemctl start",
    ] {
        assert!(
            !postinst.contains(never),
            "postinst has {never:?}:\n{postinst}"
        );
    }
    assert!(
        postinst.contains("try-restart") && postinst.contains("was-enabled"),
        "{postinst}"
    );

    // Unpacked into a throwaway root: the installed binary runs, and the
    // unit starts a binary the package has.
    let root = tmp.path().join("root");
    run(Command::new("dpkg").arg("-x").arg(deb).arg(&root));
    let version = run(Command::new(root.join("usr/bin/dhcpnet")).arg("--version"));
    assert_eq!(
        version.trim(),
        format!("dhcpnet {}", env!("CARGO_PKG_VERSION"))
    );
    let unit =
        std::fs::read_to_string(root.join("usr/lib/systemd/system/dhcpnet.service")).unwrap();
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap_or_else(|| panic!("no ExecStart in the unit:\n{unit}"));
    let bin = exec.split_whitespace().next().unwrap();
    let in_package = if bin.starts_with('/') {
        root.join(bin.trim_start_matches('/'))
    } else {
        // systemd's fixed search path; /usr/bin is where the package puts it.
        root.join("usr/bin").join(bin)
    };
    assert!(
        in_package.is_file(),
        "ExecStart={exec} names no binary of the package"
    );
    let help = run(Command::new(root.join("usr/bin/dhcpnet")).args(["daemon", "--help"]));
    assert!(!help.is_empty());
}

/// Purges the package when dropped (the test installed it).
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", "dhcpnet"]).output();
    }
}

fn installed() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f", "${Status}", "dhcpnet"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

/// The package installed for real with `dpkg -i` (maintainer scripts and
/// all), as README's install does, then purged. Never over a dhcpnet the
/// machine already has installed (that is skipped, and a failure under
/// CI=true, whose machine is fresh).
#[test]
fn the_debian_package_installs_with_dpkg_and_purges_without_a_trace() {
    let Some((_tmp, deb)) = build_package() else {
        return;
    };
    if !common::require(&["dpkg", "dpkg-query"]) {
        return;
    }
    if installed() {
        common::skip("dhcpnet is already installed on this machine: not installing over it");
        return;
    }
    let guard = Installed;
    let out = Command::new("dpkg")
        .arg("-i")
        .arg(&deb)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .expect("dpkg -i");
    assert!(out.status.success(), "dpkg -i: {}", text(&out));
    assert!(
        installed(),
        "dpkg -i succeeded but dhcpnet is not installed"
    );
    let files = run(Command::new("dpkg").args(["-L", "dhcpnet"]));
    for want in [
        "/usr/bin/dhcpnet",
        "/usr/lib/systemd/system/dhcpnet.service",
        "/usr/lib/systemd/system/dhcpnet.socket",
        "/usr/share/man/man1/dhcpnet.1.gz",
        "/usr/share/bash-completion/completions/dhcpnet",
    ] {
        assert!(
            files.lines().any(|l| l == want),
            "{want} not installed:\n{files}"
        );
    }
    let version = run(Command::new("/usr/bin/dhcpnet").arg("--version"));
    assert_eq!(
        version.trim(),
        format!("dhcpnet {}", env!("CARGO_PKG_VERSION"))
    );
    // Installing enables nothing: the service starts when the admin says.
    assert!(
        !Path::new("/etc/systemd/system/multi-user.target.wants/dhcpnet.service").exists()
            && !Path::new("/etc/systemd/system/sockets.target.wants/dhcpnet.socket").exists(),
        "installing enabled a unit"
    );
    drop(guard);
    assert!(!installed(), "dpkg --purge left dhcpnet installed");
    for gone in [
        "/usr/bin/dhcpnet",
        "/usr/lib/systemd/system/dhcpnet.service",
    ] {
        assert!(!Path::new(gone).exists(), "{gone} left after purge");
    }
}
