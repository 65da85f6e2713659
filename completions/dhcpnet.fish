# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_dhcpnet_global_optspecs
    string join \n state-dir= v/verbose q/quiet o/output= h/help V/version
end

function __fish_dhcpnet_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_dhcpnet_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_dhcpnet_using_subcommand
    set -l cmd (__fish_dhcpnet_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c dhcpnet -n "__fish_dhcpnet_needs_command" -l state-dir -d 'Directory of dhcpnet\'s records (leases, links, networks)' -r -F
complete -c dhcpnet -n "__fish_dhcpnet_needs_command" -s o -l output -d 'Output format of the data on stdout (before or after the subcommand)' -r -f -a "table\t''
json\t''
yaml\t''"
complete -c dhcpnet -n "__fish_dhcpnet_needs_command" -s v -l verbose -d 'More messages on stderr (-v info, -vv debug, -vvv trace)'
complete -c dhcpnet -n "__fish_dhcpnet_needs_command" -s q -l quiet -d 'Only errors on stderr'
complete -c dhcpnet -n "__fish_dhcpnet_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dhcpnet -n "__fish_dhcpnet_needs_command" -s V -l version -d 'Print version'
complete -c dhcpnet -n "__fish_dhcpnet_needs_command" -f -a "probe" -d 'Learn subnet, gateway, DNS and lease time from DHCP offers, without taking a lease'
complete -c dhcpnet -n "__fish_dhcpnet_needs_command" -f -a "lease" -d 'Take leases from the DHCP server for (container) MAC addresses'
complete -c dhcpnet -n "__fish_dhcpnet_needs_command" -f -a "release" -d 'Give leases back to the DHCP server (DHCPRELEASE) and forget them'
complete -c dhcpnet -n "__fish_dhcpnet_needs_command" -f -a "leases" -d 'List the leases dhcpnet holds, with the time left on each'
complete -c dhcpnet -n "__fish_dhcpnet_needs_command" -f -a "renew" -d 'Extend leases now (DHCPREQUEST in RENEWING state)'
complete -c dhcpnet -n "__fish_dhcpnet_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c dhcpnet -n "__fish_dhcpnet_needs_command" -f -a "man" -d 'Print the man page (roff)'
complete -c dhcpnet -n "__fish_dhcpnet_needs_command" -f -a "vlan" -d 'VLAN sub-interfaces (802.1Q) that dhcpnet creates, owns and deletes'
complete -c dhcpnet -n "__fish_dhcpnet_needs_command" -f -a "shim" -d 'The host shim: a macvlan or ipvlan link that lets the host reach its containers'
complete -c dhcpnet -n "__fish_dhcpnet_needs_command" -f -a "restore" -d 'Recreate the links dhcpnet owns that are missing (after a reboot); idempotent'
complete -c dhcpnet -n "__fish_dhcpnet_needs_command" -f -a "daemon" -d 'Renew leases on time, serve Docker\'s IPAM plugin, release leases of removed containers'
complete -c dhcpnet -n "__fish_dhcpnet_needs_command" -f -a "create" -d 'Create a Docker macvlan network whose containers get addresses by DHCP'
complete -c dhcpnet -n "__fish_dhcpnet_needs_command" -f -a "run" -d 'Lease an address for a new container\'s MAC, then `docker run` it with that address'
complete -c dhcpnet -n "__fish_dhcpnet_needs_command" -f -a "rm" -d 'Remove containers (`docker rm -f`) and release their leases'
complete -c dhcpnet -n "__fish_dhcpnet_needs_command" -f -a "delete" -d 'Delete a network dhcpnet created: release its leases, `docker network rm`, remove its links'
complete -c dhcpnet -n "__fish_dhcpnet_needs_command" -f -a "doctor" -d 'Check everything a DHCP address for a container depends on, and say how to fix what fails'
complete -c dhcpnet -n "__fish_dhcpnet_needs_command" -f -a "watch" -d 'Show the DHCP messages on a segment as they pass (like dhcpdump); sends nothing'
complete -c dhcpnet -n "__fish_dhcpnet_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand probe" -l timeout -d 'Give up when no server has answered after this many seconds' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand probe" -l collect -d 'After the first offer, keep listening this long for other servers (slow ones check an address for about 2 s before they offer it; the DISCOVER is sent again at 2 s)' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand probe" -l mac -d 'MAC address to probe from (default: a random locally administered one)' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand probe" -l state-dir -d 'Directory of dhcpnet\'s records (leases, links, networks)' -r -F
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand probe" -s o -l output -d 'Output format of the data on stdout (before or after the subcommand)' -r -f -a "table\t''
json\t''
yaml\t''"
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand probe" -l no-broadcast -d 'Ask servers to unicast replies instead of broadcasting them'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand probe" -s v -l verbose -d 'More messages on stderr (-v info, -vv debug, -vvv trace)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand probe" -s q -l quiet -d 'Only errors on stderr'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand probe" -s h -l help -d 'Print help'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand lease" -s i -l interface -d 'Interface to lease on (the macvlan parent, e.g. eth0)' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand lease" -l mac -d 'MAC address to lease for (default: a random locally administered one)' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand lease" -l hostname -d 'Hostname sent to the server (option 12), shown in its lease table' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand lease" -l client-id -d 'Client identifier (option 61): hex octets like 01:02:42:ac:11:00:02, or text' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand lease" -l vendor-class -d 'Vendor class identifier (option 60)' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand lease" -l request-ip -d 'Ask for this address (option 50); the server decides' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand lease" -l arp-check -d 'Before using an address, probe it by ARP for SECS (default 1) and decline it if another host answers (RFC 5227 conflict detection)' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand lease" -l count -d 'Lease N addresses for N new random MACs at once (prints a JSON array)' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand lease" -l timeout -d 'Give up after this many seconds without a lease' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand lease" -l state-dir -d 'Directory of dhcpnet\'s records (leases, links, networks)' -r -F
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand lease" -s o -l output -d 'Output format of the data on stdout (before or after the subcommand)' -r -f -a "table\t''
json\t''
yaml\t''"
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand lease" -l no-broadcast -d 'Ask servers to unicast replies instead of broadcasting them'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand lease" -s v -l verbose -d 'More messages on stderr (-v info, -vv debug, -vvv trace)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand lease" -s q -l quiet -d 'Only errors on stderr'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand lease" -s h -l help -d 'Print help'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand release" -s i -l interface -d 'Interface to lease on (the macvlan parent, e.g. eth0)' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand release" -l mac -d 'The lease of this MAC address' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand release" -l ip -d 'The lease of this address' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand release" -l state-dir -d 'Directory of dhcpnet\'s records (leases, links, networks)' -r -F
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand release" -s o -l output -d 'Output format of the data on stdout (before or after the subcommand)' -r -f -a "table\t''
json\t''
yaml\t''"
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand release" -l all -d 'Every lease on the network or interface'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand release" -s v -l verbose -d 'More messages on stderr (-v info, -vv debug, -vvv trace)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand release" -s q -l quiet -d 'Only errors on stderr'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand release" -s h -l help -d 'Print help'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand leases" -l state-dir -d 'Directory of dhcpnet\'s records (leases, links, networks)' -r -F
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand leases" -s o -l output -d 'Output format of the data on stdout (before or after the subcommand)' -r -f -a "table\t''
json\t''
yaml\t''"
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand leases" -s v -l verbose -d 'More messages on stderr (-v info, -vv debug, -vvv trace)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand leases" -s q -l quiet -d 'Only errors on stderr'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand leases" -s h -l help -d 'Print help'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand renew" -l mac -d 'The lease of this MAC address' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand renew" -l ip -d 'The lease of this address' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand renew" -l timeout -d 'Give up on a lease after this many seconds without an answer' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand renew" -l state-dir -d 'Directory of dhcpnet\'s records (leases, links, networks)' -r -F
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand renew" -s o -l output -d 'Output format of the data on stdout (before or after the subcommand)' -r -f -a "table\t''
json\t''
yaml\t''"
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand renew" -l all -d 'Every recorded lease'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand renew" -s v -l verbose -d 'More messages on stderr (-v info, -vv debug, -vvv trace)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand renew" -s q -l quiet -d 'Only errors on stderr'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand renew" -s h -l help -d 'Print help'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand completions" -l state-dir -d 'Directory of dhcpnet\'s records (leases, links, networks)' -r -F
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand completions" -s o -l output -d 'Output format of the data on stdout (before or after the subcommand)' -r -f -a "table\t''
json\t''
yaml\t''"
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand completions" -s v -l verbose -d 'More messages on stderr (-v info, -vv debug, -vvv trace)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand completions" -s q -l quiet -d 'Only errors on stderr'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand completions" -s h -l help -d 'Print help'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand man" -l out-dir -d 'Write dhcpnet.1 and one page per subcommand into this directory' -r -F
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand man" -l state-dir -d 'Directory of dhcpnet\'s records (leases, links, networks)' -r -F
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand man" -s o -l output -d 'Output format of the data on stdout (before or after the subcommand)' -r -f -a "table\t''
json\t''
yaml\t''"
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand man" -s v -l verbose -d 'More messages on stderr (-v info, -vv debug, -vvv trace)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand man" -s q -l quiet -d 'Only errors on stderr'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand man" -s h -l help -d 'Print help'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand vlan; and not __fish_seen_subcommand_from add del list help" -l state-dir -d 'Directory of dhcpnet\'s records (leases, links, networks)' -r -F
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand vlan; and not __fish_seen_subcommand_from add del list help" -s o -l output -d 'Output format of the data on stdout (before or after the subcommand)' -r -f -a "table\t''
json\t''
yaml\t''"
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand vlan; and not __fish_seen_subcommand_from add del list help" -s v -l verbose -d 'More messages on stderr (-v info, -vv debug, -vvv trace)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand vlan; and not __fish_seen_subcommand_from add del list help" -s q -l quiet -d 'Only errors on stderr'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand vlan; and not __fish_seen_subcommand_from add del list help" -s h -l help -d 'Print help'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand vlan; and not __fish_seen_subcommand_from add del list help" -f -a "add" -d 'Create VLAN sub-interface PARENT.VID, set it up and record it as dhcpnet\'s'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand vlan; and not __fish_seen_subcommand_from add del list help" -f -a "del" -d 'Delete a VLAN sub-interface dhcpnet created (others are refused)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand vlan; and not __fish_seen_subcommand_from add del list help" -f -a "list" -d 'List the VLAN sub-interfaces dhcpnet owns, and whether each exists and is up'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand vlan; and not __fish_seen_subcommand_from add del list help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand vlan; and __fish_seen_subcommand_from add" -l name -d 'Name of the new link (default PARENT.VID; at most 15 bytes)' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand vlan; and __fish_seen_subcommand_from add" -l state-dir -d 'Directory of dhcpnet\'s records (leases, links, networks)' -r -F
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand vlan; and __fish_seen_subcommand_from add" -s o -l output -d 'Output format of the data on stdout (before or after the subcommand)' -r -f -a "table\t''
json\t''
yaml\t''"
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand vlan; and __fish_seen_subcommand_from add" -s v -l verbose -d 'More messages on stderr (-v info, -vv debug, -vvv trace)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand vlan; and __fish_seen_subcommand_from add" -s q -l quiet -d 'Only errors on stderr'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand vlan; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand vlan; and __fish_seen_subcommand_from del" -l state-dir -d 'Directory of dhcpnet\'s records (leases, links, networks)' -r -F
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand vlan; and __fish_seen_subcommand_from del" -s o -l output -d 'Output format of the data on stdout (before or after the subcommand)' -r -f -a "table\t''
json\t''
yaml\t''"
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand vlan; and __fish_seen_subcommand_from del" -l force -d 'Delete it even if dhcpnet did not create it, or it no longer matches the record'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand vlan; and __fish_seen_subcommand_from del" -s v -l verbose -d 'More messages on stderr (-v info, -vv debug, -vvv trace)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand vlan; and __fish_seen_subcommand_from del" -s q -l quiet -d 'Only errors on stderr'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand vlan; and __fish_seen_subcommand_from del" -s h -l help -d 'Print help'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand vlan; and __fish_seen_subcommand_from list" -l state-dir -d 'Directory of dhcpnet\'s records (leases, links, networks)' -r -F
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand vlan; and __fish_seen_subcommand_from list" -s o -l output -d 'Output format of the data on stdout (before or after the subcommand)' -r -f -a "table\t''
json\t''
yaml\t''"
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand vlan; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More messages on stderr (-v info, -vv debug, -vvv trace)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand vlan; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Only errors on stderr'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand vlan; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand vlan; and __fish_seen_subcommand_from help" -f -a "add" -d 'Create VLAN sub-interface PARENT.VID, set it up and record it as dhcpnet\'s'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand vlan; and __fish_seen_subcommand_from help" -f -a "del" -d 'Delete a VLAN sub-interface dhcpnet created (others are refused)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand vlan; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the VLAN sub-interfaces dhcpnet owns, and whether each exists and is up'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand vlan; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and not __fish_seen_subcommand_from add del list help" -l state-dir -d 'Directory of dhcpnet\'s records (leases, links, networks)' -r -F
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and not __fish_seen_subcommand_from add del list help" -s o -l output -d 'Output format of the data on stdout (before or after the subcommand)' -r -f -a "table\t''
json\t''
yaml\t''"
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and not __fish_seen_subcommand_from add del list help" -s v -l verbose -d 'More messages on stderr (-v info, -vv debug, -vvv trace)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and not __fish_seen_subcommand_from add del list help" -s q -l quiet -d 'Only errors on stderr'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and not __fish_seen_subcommand_from add del list help" -s h -l help -d 'Print help'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and not __fish_seen_subcommand_from add del list help" -f -a "add" -d 'Create a macvlan or ipvlan shim on PARENT, lease an address for it, and route leased addresses through it'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and not __fish_seen_subcommand_from add del list help" -f -a "del" -d 'Remove a shim: routes, address, lease (DHCPRELEASE) and link'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and not __fish_seen_subcommand_from add del list help" -f -a "list" -d 'List the shims, with their addresses and routes'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and not __fish_seen_subcommand_from add del list help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and __fish_seen_subcommand_from add" -l name -d 'Name of the shim link (default shim-PARENT; at most 15 bytes)' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and __fish_seen_subcommand_from add" -l driver -d 'The containers\' driver: macvlan, or ipvlan (L2; the shim shares PARENT\'s MAC and its lease has a client id of its own) [default: ipvlan when PARENT carries a dhcpnet ipvlan network, else macvlan]' -r -f -a "macvlan\t'A MAC of its own per container: the parent must accept many MACs'
ipvlan\t'ipvlan L2: every container shares the parent\'s MAC, and the DHCP server tells them apart by client id (option 61). For Wi-Fi, and hypervisors or clouds that allow one MAC per port'"
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and __fish_seen_subcommand_from add" -l mac -d 'MAC address of a macvlan shim (default: a random locally administered one)' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and __fish_seen_subcommand_from add" -l hostname -d 'Hostname sent to the DHCP server for the shim\'s lease' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and __fish_seen_subcommand_from add" -l timeout -d 'Give up after this many seconds without a lease' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and __fish_seen_subcommand_from add" -l state-dir -d 'Directory of dhcpnet\'s records (leases, links, networks)' -r -F
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and __fish_seen_subcommand_from add" -s o -l output -d 'Output format of the data on stdout (before or after the subcommand)' -r -f -a "table\t''
json\t''
yaml\t''"
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and __fish_seen_subcommand_from add" -s v -l verbose -d 'More messages on stderr (-v info, -vv debug, -vvv trace)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and __fish_seen_subcommand_from add" -s q -l quiet -d 'Only errors on stderr'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and __fish_seen_subcommand_from del" -l state-dir -d 'Directory of dhcpnet\'s records (leases, links, networks)' -r -F
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and __fish_seen_subcommand_from del" -s o -l output -d 'Output format of the data on stdout (before or after the subcommand)' -r -f -a "table\t''
json\t''
yaml\t''"
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and __fish_seen_subcommand_from del" -l force -d 'Delete it even if dhcpnet did not create it, or it no longer matches the record'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and __fish_seen_subcommand_from del" -s v -l verbose -d 'More messages on stderr (-v info, -vv debug, -vvv trace)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and __fish_seen_subcommand_from del" -s q -l quiet -d 'Only errors on stderr'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and __fish_seen_subcommand_from del" -s h -l help -d 'Print help'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and __fish_seen_subcommand_from list" -l state-dir -d 'Directory of dhcpnet\'s records (leases, links, networks)' -r -F
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and __fish_seen_subcommand_from list" -s o -l output -d 'Output format of the data on stdout (before or after the subcommand)' -r -f -a "table\t''
json\t''
yaml\t''"
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More messages on stderr (-v info, -vv debug, -vvv trace)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Only errors on stderr'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and __fish_seen_subcommand_from help" -f -a "add" -d 'Create a macvlan or ipvlan shim on PARENT, lease an address for it, and route leased addresses through it'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and __fish_seen_subcommand_from help" -f -a "del" -d 'Remove a shim: routes, address, lease (DHCPRELEASE) and link'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the shims, with their addresses and routes'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand shim; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand restore" -l state-dir -d 'Directory of dhcpnet\'s records (leases, links, networks)' -r -F
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand restore" -s o -l output -d 'Output format of the data on stdout (before or after the subcommand)' -r -f -a "table\t''
json\t''
yaml\t''"
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand restore" -s v -l verbose -d 'More messages on stderr (-v info, -vv debug, -vvv trace)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand restore" -s q -l quiet -d 'Only errors on stderr'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand restore" -s h -l help -d 'Print help'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand daemon" -l plugin-socket -d 'Unix socket for Docker\'s IPAM plugin API (`--ipam-driver dhcpnet`); made mode 0600, and only root is served' -r -F
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand daemon" -l ipvlan-plugin-socket -d 'Unix socket of the dhcpnet-ipvlan IPAM driver (`--ipam-driver dhcpnet-ipvlan`, for ipvlan networks: every container leases under the parent\'s MAC) [default: NAME-ipvlan.sock beside --plugin-socket\'s NAME.sock]' -r -F
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand daemon" -l docker -d 'Docker CLI used to follow events (honours DOCKER_HOST) [default: $DHCPNET_DOCKER, else docker on PATH]' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand daemon" -l timeout -d 'Give up on one DHCP exchange after this many seconds (retried later)' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand daemon" -l default-interface -d 'The plugin\'s DHCP interface for networks that name none (Docker Compose drops ipam options) and whose subnet no host interface reaches' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand daemon" -l state-dir -d 'Directory of dhcpnet\'s records (leases, links, networks)' -r -F
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand daemon" -s o -l output -d 'Output format of the data on stdout (before or after the subcommand)' -r -f -a "table\t''
json\t''
yaml\t''"
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand daemon" -l no-plugin -d 'Do not serve the IPAM plugins'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand daemon" -l no-docker -d 'Do not follow Docker\'s events (no release on container removal)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand daemon" -s v -l verbose -d 'More messages on stderr (-v info, -vv debug, -vvv trace)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand daemon" -s q -l quiet -d 'Only errors on stderr'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand daemon" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand create" -l parent -d 'Interface the macvlan network sits on (e.g. eth0, or eth0.10 for a VLAN Docker creates)' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand create" -l subnet -d 'Subnet of the LAN (default: learnt from the DHCP server\'s offer)' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand create" -l gateway -d 'Gateway (default: from the offer, or the first usable address of --subnet)' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand create" -l dhcp-interface -d 'Interface to talk DHCP on for this network (default: the parent)' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand create" -l vlan -d 'Put the network on VLAN VID: dhcpnet creates (and later deletes) PARENT.VID itself' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand create" -l driver -d 'macvlan (a MAC per container), or ipvlan (L2: containers share the parent\'s MAC and are told apart by DHCP client id; for Wi-Fi and one-MAC ports)' -r -f -a "macvlan\t'A MAC of its own per container: the parent must accept many MACs'
ipvlan\t'ipvlan L2: every container shares the parent\'s MAC, and the DHCP server tells them apart by client id (option 61). For Wi-Fi, and hypervisors or clouds that allow one MAC per port'"
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand create" -l timeout -d 'How long to wait for the DHCP server\'s offer' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand create" -l state-dir -d 'Directory of dhcpnet\'s records (leases, links, networks)' -r -F
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand create" -s o -l output -d 'Output format of the data on stdout (before or after the subcommand)' -r -f -a "table\t''
json\t''
yaml\t''"
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand create" -l dry-run -d 'Print the docker command that would run, and change nothing'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand create" -s v -l verbose -d 'More messages on stderr (-v info, -vv debug, -vvv trace)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand create" -s q -l quiet -d 'Only errors on stderr'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand create" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand run" -l hostname -d 'Hostname for the container and the DHCP server (default: the container\'s --name)' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand run" -l mac -d 'MAC address for the container (default: the one its --name had on NETWORK, else a random one)' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand run" -l timeout -d 'Give up after this many seconds without a lease' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand run" -l state-dir -d 'Directory of dhcpnet\'s records (leases, links, networks)' -r -F
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand run" -s o -l output -d 'Output format of the data on stdout (before or after the subcommand)' -r -f -a "table\t''
json\t''
yaml\t''"
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand run" -s v -l verbose -d 'More messages on stderr (-v info, -vv debug, -vvv trace)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand run" -s q -l quiet -d 'Only errors on stderr'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand run" -s h -l help -d 'Print help'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand rm" -l state-dir -d 'Directory of dhcpnet\'s records (leases, links, networks)' -r -F
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand rm" -s o -l output -d 'Output format of the data on stdout (before or after the subcommand)' -r -f -a "table\t''
json\t''
yaml\t''"
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand rm" -s v -l verbose -d 'More messages on stderr (-v info, -vv debug, -vvv trace)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand rm" -s q -l quiet -d 'Only errors on stderr'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand rm" -s h -l help -d 'Print help'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand delete" -l state-dir -d 'Directory of dhcpnet\'s records (leases, links, networks)' -r -F
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand delete" -s o -l output -d 'Output format of the data on stdout (before or after the subcommand)' -r -f -a "table\t''
json\t''
yaml\t''"
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand delete" -l force -d 'Remove attached containers first (`dhcpnet rm` each) instead of refusing'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand delete" -s v -l verbose -d 'More messages on stderr (-v info, -vv debug, -vvv trace)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand delete" -s q -l quiet -d 'Only errors on stderr'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand delete" -s h -l help -d 'Print help'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand doctor" -l network -d 'Check a Docker network dhcpnet created (its parent and DHCP interface, its subnet)' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand doctor" -l timeout -d 'How long to wait for DHCP servers to answer the probe' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand doctor" -l plugin-socket -d 'The IPAM plugin\'s socket' -r -F
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand doctor" -l state-dir -d 'Directory of dhcpnet\'s records (leases, links, networks)' -r -F
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand doctor" -s o -l output -d 'Output format of the data on stdout (before or after the subcommand)' -r -f -a "table\t''
json\t''
yaml\t''"
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand doctor" -s v -l verbose -d 'More messages on stderr (-v info, -vv debug, -vvv trace)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand doctor" -s q -l quiet -d 'Only errors on stderr'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand doctor" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand watch" -l timeout -d 'Stop after this many seconds' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand watch" -l count -d 'Stop after this many DHCP messages' -r
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand watch" -l state-dir -d 'Directory of dhcpnet\'s records (leases, links, networks)' -r -F
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand watch" -s o -l output -d 'Output format of the data on stdout (before or after the subcommand)' -r -f -a "table\t''
json\t''
yaml\t''"
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand watch" -s v -l verbose -d 'More messages on stderr (-v info, -vv debug, -vvv trace)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand watch" -s q -l quiet -d 'Only errors on stderr'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand watch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand help; and not __fish_seen_subcommand_from probe lease release leases renew completions man vlan shim restore daemon create run rm delete doctor watch help" -f -a "probe" -d 'Learn subnet, gateway, DNS and lease time from DHCP offers, without taking a lease'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand help; and not __fish_seen_subcommand_from probe lease release leases renew completions man vlan shim restore daemon create run rm delete doctor watch help" -f -a "lease" -d 'Take leases from the DHCP server for (container) MAC addresses'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand help; and not __fish_seen_subcommand_from probe lease release leases renew completions man vlan shim restore daemon create run rm delete doctor watch help" -f -a "release" -d 'Give leases back to the DHCP server (DHCPRELEASE) and forget them'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand help; and not __fish_seen_subcommand_from probe lease release leases renew completions man vlan shim restore daemon create run rm delete doctor watch help" -f -a "leases" -d 'List the leases dhcpnet holds, with the time left on each'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand help; and not __fish_seen_subcommand_from probe lease release leases renew completions man vlan shim restore daemon create run rm delete doctor watch help" -f -a "renew" -d 'Extend leases now (DHCPREQUEST in RENEWING state)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand help; and not __fish_seen_subcommand_from probe lease release leases renew completions man vlan shim restore daemon create run rm delete doctor watch help" -f -a "completions" -d 'Print a shell completion script'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand help; and not __fish_seen_subcommand_from probe lease release leases renew completions man vlan shim restore daemon create run rm delete doctor watch help" -f -a "man" -d 'Print the man page (roff)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand help; and not __fish_seen_subcommand_from probe lease release leases renew completions man vlan shim restore daemon create run rm delete doctor watch help" -f -a "vlan" -d 'VLAN sub-interfaces (802.1Q) that dhcpnet creates, owns and deletes'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand help; and not __fish_seen_subcommand_from probe lease release leases renew completions man vlan shim restore daemon create run rm delete doctor watch help" -f -a "shim" -d 'The host shim: a macvlan or ipvlan link that lets the host reach its containers'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand help; and not __fish_seen_subcommand_from probe lease release leases renew completions man vlan shim restore daemon create run rm delete doctor watch help" -f -a "restore" -d 'Recreate the links dhcpnet owns that are missing (after a reboot); idempotent'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand help; and not __fish_seen_subcommand_from probe lease release leases renew completions man vlan shim restore daemon create run rm delete doctor watch help" -f -a "daemon" -d 'Renew leases on time, serve Docker\'s IPAM plugin, release leases of removed containers'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand help; and not __fish_seen_subcommand_from probe lease release leases renew completions man vlan shim restore daemon create run rm delete doctor watch help" -f -a "create" -d 'Create a Docker macvlan network whose containers get addresses by DHCP'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand help; and not __fish_seen_subcommand_from probe lease release leases renew completions man vlan shim restore daemon create run rm delete doctor watch help" -f -a "run" -d 'Lease an address for a new container\'s MAC, then `docker run` it with that address'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand help; and not __fish_seen_subcommand_from probe lease release leases renew completions man vlan shim restore daemon create run rm delete doctor watch help" -f -a "rm" -d 'Remove containers (`docker rm -f`) and release their leases'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand help; and not __fish_seen_subcommand_from probe lease release leases renew completions man vlan shim restore daemon create run rm delete doctor watch help" -f -a "delete" -d 'Delete a network dhcpnet created: release its leases, `docker network rm`, remove its links'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand help; and not __fish_seen_subcommand_from probe lease release leases renew completions man vlan shim restore daemon create run rm delete doctor watch help" -f -a "doctor" -d 'Check everything a DHCP address for a container depends on, and say how to fix what fails'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand help; and not __fish_seen_subcommand_from probe lease release leases renew completions man vlan shim restore daemon create run rm delete doctor watch help" -f -a "watch" -d 'Show the DHCP messages on a segment as they pass (like dhcpdump); sends nothing'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand help; and not __fish_seen_subcommand_from probe lease release leases renew completions man vlan shim restore daemon create run rm delete doctor watch help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand help; and __fish_seen_subcommand_from vlan" -f -a "add" -d 'Create VLAN sub-interface PARENT.VID, set it up and record it as dhcpnet\'s'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand help; and __fish_seen_subcommand_from vlan" -f -a "del" -d 'Delete a VLAN sub-interface dhcpnet created (others are refused)'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand help; and __fish_seen_subcommand_from vlan" -f -a "list" -d 'List the VLAN sub-interfaces dhcpnet owns, and whether each exists and is up'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand help; and __fish_seen_subcommand_from shim" -f -a "add" -d 'Create a macvlan or ipvlan shim on PARENT, lease an address for it, and route leased addresses through it'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand help; and __fish_seen_subcommand_from shim" -f -a "del" -d 'Remove a shim: routes, address, lease (DHCPRELEASE) and link'
complete -c dhcpnet -n "__fish_dhcpnet_using_subcommand help; and __fish_seen_subcommand_from shim" -f -a "list" -d 'List the shims, with their addresses and routes'
