//! Free loopback ports for the servers the project starts (cluster components, registries,
//! chromedriver, the local JupyterHub).

use std::net::TcpListener;

/// Where the search starts: below it are well-known and registered service ports.
const LOW: u16 = 10000;

/// A loopback port that is free now and outside the kernel's ephemeral range
/// (`/proc/sys/net/ipv4/ip_local_port_range`), so that no outgoing connection can take it
/// between this probe and the server's own bind. Ports in `taken` (chosen earlier and not
/// bound yet, e.g. the other components of one cluster) are skipped; the new one is added.
/// The search starts at a random port so that concurrent callers rarely collide.
///
/// Errors: `/dev/urandom` cannot be read, or every port between 10000 and the ephemeral
/// range is bound.
pub fn free_port(taken: &mut Vec<u16>) -> std::io::Result<u16> {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            text.split_whitespace()
                .next()
                .and_then(|low| low.parse::<u16>().ok())
        })
        .unwrap_or(32768);
    let high = ephemeral_low.max(LOW + 1);
    let mut seed = [0u8; 2];
    crate::random::fill(&mut seed)?;
    let span = u32::from(high - LOW);
    let start = u32::from(u16::from_le_bytes(seed)) % span;
    for offset in 0..span {
        let port = LOW + ((start + offset) % span) as u16;
        if !taken.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            taken.push(port);
            return Ok(port);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        format!("no free loopback port between {LOW} and {high}"),
    ))
}

/// `N` distinct free loopback ports ([`free_port`] `N` times).
///
/// Errors: those of [`free_port`].
pub fn free_ports<const N: usize>() -> std::io::Result<[u16; N]> {
    let mut taken = Vec::with_capacity(N);
    let mut ports = [0u16; N];
    for port in &mut ports {
        *port = free_port(&mut taken)?;
    }
    Ok(ports)
}

#[cfg(test)]
mod tests {
    use super::{free_port, free_ports};

    #[test]
    fn ports_are_distinct_bindable_and_outside_the_well_known_range() {
        let ports: [u16; 3] = free_ports().unwrap();
        assert!(ports[0] != ports[1] && ports[1] != ports[2] && ports[0] != ports[2]);
        for port in ports {
            assert!(port >= 10000, "{port}");
            std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        }
        let mut taken = ports.to_vec();
        let next = free_port(&mut taken).unwrap();
        assert!(!ports.contains(&next));
        assert_eq!(taken.last(), Some(&next));
    }
}
