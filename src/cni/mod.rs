//! dhcpnet as a CNI IPAM plugin (CNI spec 1.1, SPEC.md of
//! containernetworking/cni): the protocol, pure. A call is read from an
//! environment and stdin bytes handed in (`parse`), the answer is rendered
//! to the bytes for stdout and an exit status (`Outcome`); leasing,
//! records and netns work are the caller's.
//!
//! Runtimes (Podman's CNI backend, containerd, CRI-O, Multus) run the main
//! plugin (macvlan, ipvlan, bridge), which runs `dhcpnet` from CNI_PATH with
//! the same environment and stdin. dhcpnet is in CNI mode when CNI_COMMAND
//! is set and it has no arguments (`is_cni_invocation`); runtimes exec a
//! plugin with none.
//!
//! Limits (over one, the call is refused with an error naming it):
//!
//! | what | limit |
//! |---|---|
//! | stdin (the network config) | 4 MiB (`config::MAX_STDIN`) |
//! | a CNI_* variable | 32 KiB (`env::MAX_VALUE`) |
//! | CNI_ARGS pairs | 64 (`env::MAX_ARGS`) |
//! | container id, network name | 255 characters (`env::MAX_ID`) |
//! | CNI_IFNAME, ipam.parent | 15 characters (`env::MAX_IFNAME`) |
//! | CNI_NETNS, ipam.stateDir | 4095 bytes (`env::MAX_PATH`) |
//! | each GC attachment list | 16,384 entries (`config::MAX_ATTACHMENTS`) |
//! | any other list (`ips`, `prevResult`) | 256 entries (`config::MAX_LIST`) |
//! | ipam.timeout | over 0 and at most 600 s, default 30 (`config`) |
//! | JSON nesting | 128 levels (serde_json's own limit) |
//!
//! What each command requires and does:
//!
//! | command | variables | config | output |
//! |---|---|---|---|
//! | VERSION | CNI_COMMAND | stdin optional | `{"cniVersion", "supportedVersions"}` |
//! | ADD | + CONTAINERID, NETNS, IFNAME | all valid | the result (`result::render`) |
//! | CHECK (0.4.0+) | + CONTAINERID, NETNS, IFNAME | all valid, prevResult | nothing |
//! | DEL | + CONTAINERID, IFNAME | best effort | nothing |
//! | GC (1.1.0+) | CNI_COMMAND | attachment lists | nothing |
//! | STATUS (1.1.0+) | CNI_COMMAND | all valid | nothing |
//!
//! DEL is best effort (SPEC.md §2): it goes on with an unknown cniVersion,
//! a bad CNI_ARGS or CNI_NETNS, unknown ipam keys or bad values of keys it
//! does not need (each a warning for stderr), and stops only at what keeps
//! it from finding the attachment's record: no container id, interface or
//! network name, or a bad `ipam.stateDir`.

pub mod config;
pub mod env;
pub mod error;
pub mod result;
pub mod version;
