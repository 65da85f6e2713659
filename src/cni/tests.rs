//! Tests of whole calls: an environment and stdin in, a request or an
//! error object out, for every command, every missing variable and every
//! kind of bad input; and property tests that no input panics.

use std::net::Ipv4Addr;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

const PODMAN_ID: &str = "4fa2b3c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3";

fn env(pairs: &[(&str, &str)]) -> Env {
    Env::from_vars(pairs.iter().copied())
}

/// The environment Podman 4.3 gives an ADD (run.go getRuntimeConfig),
/// with `command` in CNI_COMMAND.
fn podman(command: &str) -> Vec<(&str, &str)> {
    vec![
        ("CNI_COMMAND", command),
        ("CNI_CONTAINERID", PODMAN_ID),
        ("CNI_NETNS", "/run/netns/netns-5d1e"),
        ("CNI_IFNAME", "eth0"),
        ("CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAME=web1"),
        ("CNI_PATH", "/usr/lib/cni:/opt/cni/bin"),
    ]
}

fn conf(version: &str) -> Value {
    json!({"cniVersion": version, "name": "lan", "type": "macvlan", "master": "dnlab0", "mode": "bridge",
           "ipam": {"type": "dhcpnet"}})
}

fn call(pairs: &[(&str, &str)], stdin: &Value) -> Invocation {
    parse(&env(pairs), stdin.to_string().as_bytes())
}

fn err(i: &Invocation) -> &CniError {
    match &i.request {
        Err(e) => e,
        Ok(r) => panic!("expected an error, got {r:?}"),
    }
}

/// The error object the call prints.
fn printed(i: &Invocation) -> String {
    let o = i.failed(err(i));
    assert_eq!(o.exit_code, 1);
    o.stdout.unwrap().trim_end().to_string()
}

#[test]
fn a_podman_add_is_read_whole() {
    let i = call(&podman("ADD"), &conf("0.4.0"));
    assert!(i.warnings.is_empty(), "{:?}", i.warnings);
    assert_eq!(i.version, Some(Version::V0_4_0));
    let Ok(Request::Add(a)) = i.request else {
        panic!("{:?}", i.request)
    };
    assert_eq!(a.version, Version::V0_4_0);
    assert_eq!(
        a.id,
        AttachmentId {
            network: "lan".into(),
            container_id: PODMAN_ID.into(),
            ifname: "eth0".into()
        }
    );
    assert_eq!(a.netns, "/run/netns/netns-5d1e");
    assert_eq!(a.network.plugin, "macvlan");
    assert_eq!(a.network.parent, config::ParentHint::Named("dnlab0".into()));
    assert_eq!(a.asked, None);
    assert_eq!(
        attachment::hostname(
            a.network.ipam.hostname.as_deref(),
            &a.args,
            &a.id.container_id
        )
        .as_deref(),
        Some("web1")
    );
    let mac: crate::net::mac::Mac = "02:42:c0:a8:4d:39".parse().unwrap();
    let ident = attachment::identity(&a, mac);
    assert_eq!(ident.mac, mac);
    assert_eq!(ident.client_id, attachment::client_id(&a.id));
    assert_eq!(ident.hostname.as_deref(), Some("web1"));
    let rec = attachment::CniAttachment::of_add(&a, None);
    assert_eq!(rec.parent.as_deref(), Some("dnlab0"));
    assert_eq!(rec.pod_name.as_deref(), Some("web1"));
    assert!(!rec.broadcast);
}

#[test]
fn a_configured_client_id_and_hostname_are_the_identity() {
    let mut c = conf("1.0.0");
    c["ipam"]["clientId"] = json!("lan-box");
    c["ipam"]["hostname"] = json!("box");
    let Ok(Request::Add(a)) = call(&podman("ADD"), &c).request else {
        panic!()
    };
    let ident = attachment::identity(&a, "02:00:00:00:00:01".parse().unwrap());
    assert_eq!(ident.client_id, b"\0lan-box");
    assert_eq!(ident.hostname.as_deref(), Some("box"));
}

#[test]
fn podman_s_one_ip_arrives_as_cni_args_ip_and_is_asked_for() {
    let mut e = podman("ADD");
    e[4].1 = "IgnoreUnknown=1;K8S_POD_NAME=web1;IP=192.168.77.60";
    let Ok(Request::Add(a)) = call(&e, &conf("1.0.0")).request else {
        panic!()
    };
    assert_eq!(
        a.asked,
        Some((Ipv4Addr::new(192, 168, 77, 60), AddressSource::CniArgs))
    );
}

#[test]
fn each_command_s_required_variable_missing_is_named_in_a_code_4() {
    let base = podman("X");
    for cmd in Command::ALL {
        for &var in cmd.required() {
            let mut e: Vec<_> = base.iter().copied().filter(|(k, _)| *k != var).collect();
            e[0].1 = cmd.as_str();
            let version = if matches!(cmd, Command::Gc | Command::Status) {
                "1.1.0"
            } else {
                "1.0.0"
            };
            let i = call(&e, &conf(version));
            let x = err(&i);
            assert_eq!(x.code, Code::InvalidEnv, "{cmd:?} {var}");
            assert_eq!(
                x.msg,
                format!(
                    "dhcpnet: required environment variables [{var}] missing for {}",
                    cmd.as_str()
                )
            );
            // An empty value is missing too (as in cni's skel).
            let mut e2 = base.clone();
            e2[0].1 = cmd.as_str();
            for p in e2.iter_mut().filter(|(k, _)| *k == var) {
                p.1 = "";
            }
            assert_eq!(err(&call(&e2, &conf(version))).msg, x.msg);
        }
    }
}

#[test]
fn every_missing_variable_is_named_at_once_in_a_golden_error() {
    let i = call(&[("CNI_COMMAND", "ADD")], &conf("1.0.0"));
    assert_eq!(
        printed(&i),
        r#"{"cniVersion":"1.0.0","code":4,"msg":"dhcpnet: required environment variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME] missing for ADD","details":"ADD needs CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME; dhcpnet is run by a container runtime or a main plugin (macvlan, ipvlan, bridge), which sets them"}"#
    );
}

#[test]
fn without_cni_command_or_with_an_unknown_one_the_call_is_refused_naming_it() {
    let i = call(&[], &conf("1.0.0"));
    assert_eq!(err(&i).code, Code::InvalidEnv);
    assert!(
        err(&i).msg.starts_with("dhcpnet: CNI_COMMAND is not set"),
        "{}",
        err(&i)
    );
    let i = call(&[("CNI_COMMAND", "add")], &conf("1.0.0"));
    assert_eq!(
        err(&i).msg,
        r#"dhcpnet: CNI_COMMAND is "add", not one of ADD, DEL, CHECK, GC, STATUS, VERSION"#
    );
}

#[test]
fn del_needs_no_netns_and_goes_on_past_a_bad_one() {
    let e: Vec<_> = podman("DEL")
        .into_iter()
        .filter(|(k, _)| *k != "CNI_NETNS")
        .collect();
    let i = call(&e, &conf("1.0.0"));
    let Ok(Request::Del(d)) = &i.request else {
        panic!("{:?}", i.request)
    };
    assert_eq!(d.netns, None);
    assert!(i.warnings.is_empty());
    let mut e = podman("DEL");
    e[2].1 = "netns-5d1e";
    let i = call(&e, &conf("1.0.0"));
    let Ok(Request::Del(d)) = &i.request else {
        panic!("{:?}", i.request)
    };
    assert_eq!(d.netns, None);
    assert_eq!(i.warnings.len(), 1);
    assert!(
        i.warnings[0].contains("CNI_NETNS is invalid"),
        "{:?}",
        i.warnings
    );
    // ADD refuses the same value.
    let mut e = podman("ADD");
    e[2].1 = "netns-5d1e";
    let i = call(&e, &conf("1.0.0"));
    assert_eq!(err(&i).code, Code::InvalidEnv);
    assert!(
        err(&i).msg.starts_with("dhcpnet: CNI_NETNS is invalid"),
        "{}",
        err(&i)
    );
}

#[test]
fn gc_and_status_need_no_cni_path_nor_attachment_variables() {
    let gc = json!({"cniVersion": "1.1.0", "name": "lan", "type": "macvlan", "ipam": {"type": "dhcpnet"},
                    "cni.dev/valid-attachments": [{"containerID": PODMAN_ID, "ifname": "eth0"}]});
    let i = call(&[("CNI_COMMAND", "GC")], &gc);
    let Ok(Request::Gc(g)) = &i.request else {
        panic!("{:?}", i.request)
    };
    assert_eq!(g.valid.len(), 1);
    assert_eq!(g.network.name, "lan");
    let i = call(&[("CNI_COMMAND", "STATUS")], &conf("1.1.0"));
    assert!(
        matches!(i.request, Ok(Request::Status(_))),
        "{:?}",
        i.request
    );
    // A junk CNI_CONTAINERID left in the environment is not read by GC.
    let i = call(&[("CNI_COMMAND", "GC"), ("CNI_CONTAINERID", "-bad")], &gc);
    assert!(i.request.is_ok());
}

#[test]
fn invalid_variables_are_named() {
    for (var, value, said) in [
        (
            "CNI_CONTAINERID",
            "-abc",
            "CNI_CONTAINERID is invalid: the container id \"-abc\" must start",
        ),
        (
            "CNI_IFNAME",
            "eth0:1",
            "CNI_IFNAME is invalid: interface name \"eth0:1\" is not valid",
        ),
        (
            "CNI_IFNAME",
            "averyveryverylongname",
            "CNI_IFNAME is invalid: interface name",
        ),
        (
            "CNI_ARGS",
            "K8S_POD_NAME",
            "CNI_ARGS has \"K8S_POD_NAME\", which is not KEY=VALUE",
        ),
    ] {
        let mut e = podman("ADD");
        for p in e.iter_mut().filter(|(k, _)| *k == var) {
            p.1 = value;
        }
        let i = call(&e, &conf("1.0.0"));
        assert_eq!(err(&i).code, Code::InvalidEnv, "{var}");
        assert!(err(&i).msg.contains(said), "{}", err(&i));
    }
}

#[test]
fn a_bad_cni_args_fails_add_only() {
    let mut e = podman("DEL");
    e[4].1 = "junk";
    let i = call(&e, &conf("1.0.0"));
    assert!(matches!(i.request, Ok(Request::Del(_))));
    assert!(i.warnings.is_empty(), "DEL does not read CNI_ARGS");
    e[0].1 = "CHECK";
    let with_prev = {
        let mut c = conf("1.0.0");
        c["prevResult"] = json!({"ips": [{"address": "192.168.77.57/24"}]});
        c
    };
    assert!(matches!(
        call(&e, &with_prev).request,
        Ok(Request::Check(_))
    ));
}

#[test]
fn versions_are_refused_with_code_1_listing_what_dhcpnet_speaks() {
    let i = call(&podman("ADD"), &conf("0.2.0"));
    assert_eq!(
        printed(&i),
        r#"{"cniVersion":"1.1.0","code":1,"msg":"dhcpnet: the network config's cniVersion \"0.2.0\" is not one dhcpnet speaks","details":"dhcpnet speaks CNI 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0; set \"cniVersion\" in the network config (conflist) to one of them (Podman 4 and Debian 12's plugins take up to \"1.0.0\")"}"#
    );
    let mut no_version = conf("1.0.0");
    no_version.as_object_mut().unwrap().remove("cniVersion");
    let i = call(&podman("ADD"), &no_version);
    assert_eq!(err(&i).code, Code::IncompatibleVersion);
    assert_eq!(err(&i).msg, "dhcpnet: the network config has no cniVersion");
    let mut numeric = conf("1.0.0");
    numeric["cniVersion"] = json!(1.0);
    assert_eq!(
        err(&call(&podman("ADD"), &numeric)).code,
        Code::IncompatibleVersion
    );
    for bad in ["9.9.9", "1.0", ""] {
        assert_eq!(
            err(&call(&podman("ADD"), &conf(bad))).code,
            Code::IncompatibleVersion,
            "{bad}"
        );
    }
}

#[test]
fn check_needs_0_4_0_and_gc_and_status_need_1_1_0() {
    let mut check = conf("0.3.1");
    check["prevResult"] = json!({"ips": []});
    let i = call(&podman("CHECK"), &check);
    assert_eq!(
        printed(&i),
        r#"{"cniVersion":"0.3.1","code":1,"msg":"dhcpnet: CNI 0.3.1 has no CHECK (it came in 0.4.0)","details":"set \"cniVersion\": \"0.4.0\" or later to use CHECK"}"#
    );
    for cmd in ["GC", "STATUS"] {
        let mut c = conf("1.0.0");
        c["cni.dev/valid-attachments"] = json!([]);
        let i = call(&[("CNI_COMMAND", cmd)], &c);
        assert_eq!(err(&i).code, Code::IncompatibleVersion, "{cmd}");
        assert_eq!(
            err(&i).msg,
            format!("dhcpnet: CNI 1.0.0 has no {cmd} (it came in 1.1.0)")
        );
    }
}

#[test]
fn check_without_prev_result_is_an_invalid_config() {
    let i = call(&podman("CHECK"), &conf("1.0.0"));
    assert_eq!(
        printed(&i),
        r#"{"cniVersion":"1.0.0","code":7,"msg":"dhcpnet: CHECK was called without prevResult","details":"the runtime must pass the result of the attachment's ADD as prevResult (SPEC.md §2 CHECK)"}"#
    );
    let mut c = conf("1.0.0");
    c["prevResult"] = Value::Null;
    assert_eq!(
        err(&call(&podman("CHECK"), &c)).msg,
        "dhcpnet: CHECK was called without prevResult"
    );
    c["prevResult"] = json!({"interfaces": [{"name": "eth0", "sandbox": "/run/netns/netns-5d1e"}],
                             "ips": [{"address": "192.168.77.57/24", "interface": 0}]});
    let Ok(Request::Check(k)) = call(&podman("CHECK"), &c).request else {
        panic!()
    };
    assert_eq!(k.prev_result.addresses_on("eth0").len(), 1);
}

#[test]
fn an_unsupported_ipam_field_fails_add_with_code_2_in_the_config_s_version() {
    let mut c = conf("0.4.0");
    c["ipam"]["ranges"] = json!([[{"subnet": "10.0.0.0/24"}]]);
    let i = call(&podman("ADD"), &c);
    assert_eq!(
        printed(&i),
        r#"{"cniVersion":"0.4.0","code":2,"msg":"dhcpnet: ipam has the unsupported field \"ranges\": [[{\"subnet\":\"10.0.0.0/24\"}]]","details":"dhcpnet's ipam keys are type, hostname, clientId, requestAddress, timeout, parent, requireDaemon, stateDir"}"#
    );
    // STATUS and CHECK are as strict; DEL goes on with a warning.
    let i = call(&podman("DEL"), &c);
    assert!(matches!(i.request, Ok(Request::Del(_))));
    assert_eq!(i.warnings.len(), 1);
    assert!(i.warnings[0].contains("\"ranges\""));
}

#[test]
fn del_goes_on_past_what_it_does_not_need_and_stops_at_what_finds_the_record() {
    let mut c = conf("0.2.0");
    c["ipam"]["timeout"] = json!("soon");
    c["prevResult"] = json!("garbage");
    let i = call(&podman("DEL"), &c);
    let Ok(Request::Del(d)) = &i.request else {
        panic!("{:?}", i.request)
    };
    assert_eq!(d.version, None);
    assert_eq!(d.prev_result, None);
    assert_eq!(i.warnings.len(), 3, "{:?}", i.warnings);
    let mut c = conf("1.0.0");
    c["ipam"]["stateDir"] = json!("state");
    let i = call(&podman("DEL"), &c);
    assert_eq!(err(&i).code, Code::InvalidConfig);
    assert!(err(&i).msg.contains("ipam.stateDir"), "{}", err(&i));
    let mut c = conf("1.0.0");
    c.as_object_mut().unwrap().remove("name");
    assert_eq!(
        err(&call(&podman("DEL"), &c)).msg,
        "dhcpnet: the network config has no \"name\""
    );
}

#[test]
fn gc_refuses_without_the_attachment_list() {
    let i = call(&[("CNI_COMMAND", "GC")], &conf("1.1.0"));
    assert_eq!(
        printed(&i),
        r#"{"cniVersion":"1.1.0","code":7,"msg":"dhcpnet: GC was called without cni.dev/valid-attachments","details":"GC releases every lease not listed there, so dhcpnet refuses it without the list; pass an empty list to release every attachment of this network"}"#
    );
}

#[test]
fn stdin_that_is_not_a_config_is_code_6_and_too_much_of_it_code_7() {
    let i = parse(&env(&podman("ADD")), b"{\"cniVersion\": ");
    assert_eq!(err(&i).code, Code::Decode);
    assert!(
        printed(&i).starts_with(r#"{"cniVersion":"1.1.0","code":6,"msg":"dhcpnet: the network config on stdin is not valid JSON: EOF while parsing"#),
        "{}",
        printed(&i)
    );
    let i = parse(&env(&podman("DEL")), b"");
    assert_eq!(err(&i).code, Code::Decode);
    let big = vec![b' '; config::MAX_STDIN + 1];
    let i = parse(&env(&podman("ADD")), &big);
    assert_eq!(
        printed(&i),
        r#"{"cniVersion":"1.1.0","code":7,"msg":"dhcpnet: the network config on stdin is over 4 MiB, dhcpnet's limit","details":"a network config is a few hundred bytes; GC's attachment lists hold about 16,000 attachments at most"}"#
    );
    // The environment is judged first, as cni's skel does.
    let i = parse(&env(&[("CNI_COMMAND", "ADD")]), b"junk");
    assert_eq!(err(&i).code, Code::InvalidEnv);
}

#[test]
fn stdin_is_read_up_to_the_limit_and_no_further() {
    let ok = vec![b'x'; config::MAX_STDIN];
    assert_eq!(read_bounded(&mut &ok[..]).unwrap().len(), config::MAX_STDIN);
    let over = vec![b'x'; config::MAX_STDIN + 10];
    assert_eq!(
        read_bounded(&mut &over[..]).unwrap_err().code,
        Code::InvalidConfig
    );
    struct Broken;
    impl std::io::Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("EIO"))
        }
    }
    let e = read_bounded(&mut Broken).unwrap_err();
    assert_eq!(
        e.to_json("1.0.0"),
        r#"{"cniVersion":"1.0.0","code":5,"msg":"dhcpnet: reading the network config from stdin failed: EIO"}"#
    );
}

#[test]
fn version_answers_whatever_stdin_holds() {
    let answer = |stdin: &[u8]| {
        let i = parse(&env(&[("CNI_COMMAND", "VERSION")]), stdin);
        let Ok(Request::Version(a)) = &i.request else {
            panic!("{:?}", i.request)
        };
        Outcome::version(a).stdout.unwrap()
    };
    // libcni 1.1.2's probe (pkg/invoke/exec.go GetVersionInfo).
    assert_eq!(
        answer(br#"{"cniVersion":"1.0.0"}"#),
        "{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\",\"1.1.0\"]}\n"
    );
    assert!(answer(b"").starts_with(r#"{"cniVersion":"1.1.0","#));
    assert!(answer(b"not json").starts_with(r#"{"cniVersion":"1.1.0","#));
    assert!(answer(br#"{"cniVersion":"0.2.0"}"#).starts_with(r#"{"cniVersion":"0.2.0","#));
}

#[test]
fn a_cni_call_is_told_from_a_command_line() {
    let add = OsStr::new("ADD");
    assert!(is_cni_invocation(Some(add), 1));
    assert!(is_cni_invocation(Some(add), 0));
    assert!(
        !is_cni_invocation(Some(add), 2),
        "dhcpnet leases with CNI_COMMAND left in the shell"
    );
    assert!(!is_cni_invocation(Some(OsStr::new("")), 1));
    assert!(!is_cni_invocation(None, 1));
}

#[test]
fn the_outcomes_print_one_document_or_nothing() {
    assert_eq!(
        Outcome::done(),
        Outcome {
            stdout: None,
            exit_code: 0
        }
    );
    assert_eq!(Outcome::print("{}".into()).stdout.as_deref(), Some("{}\n"));
    let e = CniError::new(Code::TryAgainLater, "x", "y");
    assert_eq!(
        Outcome::error(None, &e).stdout.as_deref(),
        Some("{\"cniVersion\":\"1.1.0\",\"code\":11,\"msg\":\"dhcpnet: x\",\"details\":\"y\"}\n")
    );
    let o = Outcome::error(Some(Version::V0_3_0), &e);
    assert!(
        o.stdout
            .unwrap()
            .starts_with(r#"{"cniVersion":"0.3.0","code":11,"#)
    );
    assert_eq!(o.exit_code, 1);
}

#[test]
fn an_add_renders_in_the_version_it_was_asked_in() {
    let a = result::Addressing {
        address: "192.168.77.57/24".parse().unwrap(),
        gateway: Some(Ipv4Addr::new(192, 168, 77, 1)),
        routes: vec![],
        nameservers: vec![],
        domain: None,
        search: vec![],
    };
    for v in version::SUPPORTED {
        let i = call(&podman("ADD"), &conf(v.as_str()));
        let Ok(Request::Add(add)) = &i.request else {
            panic!()
        };
        let out = Outcome::print(result::render(add.version, &a).json);
        let back: Value = serde_json::from_str(out.stdout.as_deref().unwrap()).unwrap();
        assert_eq!(back["cniVersion"], v.as_str());
    }
}

// ---- no input panics ----

/// The variables dhcpnet reads, and one it does not.
fn names() -> Vec<&'static str> {
    env::VARS.iter().copied().chain(["OTHER"]).collect()
}

fn command() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("ADD".to_string()),
        1 => Just("DEL".to_string()),
        1 => Just("CHECK".to_string()),
        1 => Just("GC".to_string()),
        1 => Just("STATUS".to_string()),
        1 => Just("VERSION".to_string()),
        1 => ".{0,8}",
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::from),
        prop_oneof![
            Just("1.1.0"),
            Just("0.3.1"),
            Just("dhcpnet"),
            Just("eth0"),
            Just("192.168.77.57/24"),
            Just("10.0.0.1"),
            Just("/tmp/x"),
        ]
        .prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("address".to_string()),
                    Just("interface".to_string()),
                    Just("name".to_string()),
                    Just("sandbox".to_string()),
                    Just("containerID".to_string()),
                    Just("ifname".to_string()),
                    Just("ips".to_string()),
                    Just("type".to_string()),
                    "[a-z]{1,6}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A config whose every field dhcpnet reads may be anything.
fn config_doc() -> impl Strategy<Value = Value> {
    let keys = [
        "cniVersion",
        "name",
        "type",
        "master",
        "bridge",
        "mode",
        "prevResult",
        "runtimeConfig",
        "args",
        "cni.dev/valid-attachments",
        "cni.dev/attachments",
    ];
    let ipam_keys: Vec<&str> = ["type", "other"]
        .into_iter()
        .chain(config::IPAM_KEYS)
        .collect();
    (
        // Mostly the plain config, a few fields changed: most calls get past
        // the first check and reach the deeper ones.
        proptest::collection::vec(proptest::option::weighted(0.08, json_value()), keys.len()),
        proptest::collection::vec(proptest::option::weighted(0.1, json_leaf()), ipam_keys.len()),
        proptest::bool::weighted(0.95),
    )
        .prop_map(move |(top, ipam, ipam_is_object)| {
            let mut doc = conf("1.1.0");
            doc["prevResult"] = json!({"interfaces": [{"name": "eth0", "sandbox": "/run/netns/netns-5d1e"}],
                                       "ips": [{"address": "192.168.77.57/24", "interface": 0}]});
            doc["cni.dev/valid-attachments"] = json!([{"containerID": PODMAN_ID, "ifname": "eth0"}]);
            for (k, v) in keys.iter().zip(top) {
                if let Some(v) = v {
                    doc[*k] = v;
                }
            }
            if ipam_is_object {
                for (k, v) in ipam_keys.iter().zip(ipam) {
                    if let Some(v) = v {
                        doc["ipam"][*k] = v;
                    }
                }
            } else {
                doc["ipam"] = Value::from("x");
            }
            doc
        })
}

/// Everything a parsed call offers is used as the integration would.
fn exercise(i: &Invocation) {
    let o = match &i.request {
        Ok(Request::Add(a)) => {
            let _ = attachment::hostname(
                a.network.ipam.hostname.as_deref(),
                &a.args,
                &a.id.container_id,
            );
            let _ = attachment::client_id(&a.id);
            let _ = attachment::identity(a, crate::net::mac::Mac([2, 0, 0, 0, 0, 1]));
            let _ = attachment::CniAttachment::of_add(a, Some("eth0"));
            let _ = attachment::address_to_ask(a.asked, None, chrono::Utc::now());
            Outcome::done()
        }
        Ok(Request::Check(c)) => {
            let _ = c.prev_result.addresses_on(&c.id.ifname);
            Outcome::done()
        }
        Ok(Request::Version(v)) => Outcome::version(v),
        Ok(_) => Outcome::done(),
        Err(e) => i.failed(e),
    };
    if let Some(s) = o.stdout {
        let v: Value = serde_json::from_str(&s).expect("stdout is one JSON document");
        assert!(v.get("cniVersion").is_some());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn no_environment_and_stdin_bytes_panic(
        vars in proptest::collection::vec((0..names().len(), proptest::collection::vec(any::<u8>(), 0..40)), 0..10),
        cmd in command(),
        stdin in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        use std::os::unix::ffi::OsStrExt;
        let mut pairs: Vec<(OsString, OsString)> = vars
            .iter()
            .map(|(n, v)| (OsString::from(names()[*n]), OsStr::from_bytes(v).to_os_string()))
            .collect();
        pairs.insert(0, ("CNI_COMMAND".into(), cmd.into()));
        let i = parse(&Env::from_vars(pairs), &stdin);
        exercise(&i);
    }

    #[test]
    fn no_config_a_runtime_could_send_panics(
        doc in config_doc(),
        cmd in command(),
        drop_var in 0..names().len() * 3,
        cni_args in "([A-Za-z0-9_]{1,12}=[ -~&&[^;]]{0,16};){0,4}",
    ) {
        let dropped = names().get(drop_var).copied().unwrap_or("none");
        let mut e: Vec<(&str, &str)> = podman(&cmd).into_iter().filter(|(k, _)| *k != dropped).collect();
        for p in e.iter_mut().filter(|(k, _)| *k == "CNI_ARGS") {
            p.1 = &cni_args;
        }
        let i = call(&e, &doc);
        exercise(&i);
    }
}

use std::ffi::OsString;
