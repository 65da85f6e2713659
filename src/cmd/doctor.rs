//! `dhcpnet doctor`: placeholder, filled in below.
use super::Ctx;
use crate::cli::DoctorArgs;
use crate::error::Result;

pub async fn run(_ctx: &Ctx, _a: DoctorArgs) -> Result<()> {
    Ok(())
}
