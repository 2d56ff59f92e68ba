//! (tests) Health set by hand, for the engine and the control loop.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use super::HealthSource;
use crate::health::{HostStatus, State};
use crate::spec::Host;

/// Every host's state as the test sets it; unknown until set.
#[derive(Default)]
pub struct FakeHealth(Mutex<HashMap<IpAddr, State>>);

impl FakeHealth {
    pub fn set(&self, ip: &str, state: State) {
        self.0.lock().unwrap().insert(ip.parse().unwrap(), state);
    }
}

impl HealthSource for FakeHealth {
    fn state(&self, ip: IpAddr) -> State {
        *self.0.lock().unwrap().get(&ip).unwrap_or(&State::Unknown)
    }
    fn set_hosts(&self, _: &[Host]) {}
    fn snapshot(&self) -> Vec<HostStatus> {
        Vec::new()
    }
}
