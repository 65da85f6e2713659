//! Where a lease operation acts: the interface to send on, and the Docker
//! network the lease belongs to, if any.

use crate::net::iface::Interface;

#[derive(Debug, Clone)]
pub struct Place {
    pub iface: Interface,
    pub network: Option<String>,
}

impl Place {
    /// Leases on an interface, for no Docker network.
    pub fn interface(name: &str) -> crate::error::Result<Place> {
        Ok(Place {
            iface: Interface::lookup(name)?,
            network: None,
        })
    }
}
