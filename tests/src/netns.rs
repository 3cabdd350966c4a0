//! A network namespace for one agent, linked to this host by three veth pairs — one towards
//! etcd, one towards the schedulers, one towards the user's service — so a test can cut each
//! path on its own, as a real network would.
//!
//! Why three links and not packet filters: the machine's kernel has no `tc` classifiers,
//! actions or `netem`, and no iptables; an interface going down is what it can do, and one
//! link per path makes "cut from etcd but not from the scheduler" exact. Addresses are from
//! 10.201.0.0/16, on links this test made; nothing is routed beyond them (the namespace has
//! no default route). Needs root (`ip netns`); a test that cannot create one fails saying so.

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::Context;

/// One path out of the agent's namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    Etcd,
    Scheduler,
    Service,
}

impl Path {
    const ALL: [Path; 3] = [Path::Etcd, Path::Scheduler, Path::Service];

    fn index(self) -> u8 {
        self as u8
    }

    fn tag(self) -> char {
        ['e', 's', 'u'][self.index() as usize]
    }
}

/// The namespace and its links; deleted (with its veths) on drop.
pub struct Cage {
    name: String,
    /// Third octet of every address of this cage.
    subnet: u8,
    ifname_stem: String,
}

impl Cage {
    /// Creates the namespace and its three links, all up.
    pub fn create() -> anyhow::Result<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        sweep_stale();
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let cage = Self {
            name: format!("crony-{pid}-{n}"),
            subnet: ((pid % 200 + n * 7) % 256) as u8,
            ifname_stem: format!("cr{}{n}", pid % 100_000),
        };
        ip(&["netns", "add", &cage.name])
            .context("creating a network namespace (the partition tests need root and iproute2)")?;
        cage.in_ns(&["link", "set", "lo", "up"])?;
        for path in Path::ALL {
            cage.link(path)?;
        }
        Ok(cage)
    }

    fn link(&self, path: Path) -> anyhow::Result<()> {
        let (host, agent) = (self.host_if(path), self.agent_if(path));
        ip(&[
            "link", "add", &host, "type", "veth", "peer", "name", &agent, "netns", &self.name,
        ])?;
        ip(&[
            "addr",
            "add",
            &format!("{}/30", self.host_ip(path)),
            "dev",
            &host,
        ])?;
        ip(&["link", "set", &host, "up"])?;
        let agent_addr = format!("{}/30", self.agent_ip(path));
        self.in_ns(&["addr", "add", &agent_addr, "dev", &agent])?;
        self.in_ns(&["link", "set", &agent, "up"])
    }

    /// The namespace's name, for `ip netns exec`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This host's address on `path`'s link: where etcd, the scheduler's gRPC or the
    /// service listens for the caged agent.
    pub fn host_ip(&self, path: Path) -> Ipv4Addr {
        Ipv4Addr::new(10, 201, self.subnet, path.index() * 4 + 1)
    }

    /// The agent's address on `path`'s link.
    pub fn agent_ip(&self, path: Path) -> Ipv4Addr {
        Ipv4Addr::new(10, 201, self.subnet, path.index() * 4 + 2)
    }

    /// Cuts `path`: the agent's end goes down. Packets from this side towards the agent are
    /// dropped unanswered; the agent's own sends find no route.
    pub fn cut(&self, path: Path) -> anyhow::Result<()> {
        self.in_ns(&["link", "set", &self.agent_if(path), "down"])
    }

    /// Restores `path` after [`Cage::cut`].
    pub fn heal(&self, path: Path) -> anyhow::Result<()> {
        self.in_ns(&["link", "set", &self.agent_if(path), "up"])
    }

    fn host_if(&self, path: Path) -> String {
        format!("{}{}", self.ifname_stem, path.tag())
    }

    fn agent_if(&self, path: Path) -> String {
        format!("{}{}a", self.ifname_stem, path.tag())
    }

    fn in_ns(&self, args: &[&str]) -> anyhow::Result<()> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }
}

impl Drop for Cage {
    fn drop(&mut self) {
        // Deleting the namespace deletes the agent ends, and with them their host peers.
        let _ = ip(&["netns", "del", &self.name]);
    }
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    crate::process::run("ip", args)
}

/// Deletes namespaces an earlier, killed test run left behind (its pid no longer alive), so
/// their links cannot shadow this run's addresses.
fn sweep_stale() {
    let Ok(output) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        let Some(pid) = name
            .strip_prefix("crony-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", name]);
        }
    }
}
