//! The fence: the one place every mutating EC2 call of the daemon passes,
//! and that can refuse it. [`Fenced`] wraps any [`Ec2`]; reads and dry runs
//! always go through, a mutating call goes only while the [`Fence`] is
//! open. A refused call is never sent and comes back as
//! [`Ec2Error::Fenced`], which every caller reports as a failure.
//!
//! A daemon alone keeps its fence open. With leader election, only the
//! leader's fence is open, and only until a deadline on the monotonic
//! clock: a leader that cannot renew its lease stops mutating by itself
//! before the lease can have expired elsewhere.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::{Ec2, Ec2Error, NetworkInterface, RouteTable};
use crate::clock::Clock;
use crate::types::{Cidr, EniId, RouteTableId, VpcId};

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Open,
    /// Open until then (monotonic time), refused after with this reason.
    Until(Instant, String),
    Closed(String),
}

/// Whether mutating calls may be sent now.
pub struct Fence {
    state: Mutex<State>,
    clock: Clock,
}

impl Fence {
    /// An open fence: every call goes.
    pub fn open(clock: Clock) -> Fence {
        Fence {
            state: Mutex::new(State::Open),
            clock,
        }
    }

    fn set(&self, s: State) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = s;
    }

    /// Lets every mutating call through.
    pub fn allow(&self) {
        self.set(State::Open)
    }

    /// Lets mutating calls through until `deadline` (on the fence's
    /// clock); after it they are refused with `then`.
    pub fn allow_until(&self, deadline: Instant, then: impl Into<String>) {
        self.set(State::Until(deadline, then.into()))
    }

    /// Refuses every mutating call, saying `why`.
    pub fn refuse(&self, why: impl Into<String>) {
        self.set(State::Closed(why.into()))
    }

    /// `Ok` when a mutating call may be sent now, else why not.
    pub fn check(&self) -> Result<(), String> {
        match &*self.state.lock().unwrap_or_else(|p| p.into_inner()) {
            State::Open => Ok(()),
            State::Until(at, _) if self.clock.mono() < *at => Ok(()),
            State::Until(_, why) | State::Closed(why) => Err(why.clone()),
        }
    }
}

/// An [`Ec2`] whose mutating calls pass the fence first.
pub struct Fenced<E> {
    inner: E,
    fence: Arc<Fence>,
}

impl<E: Ec2> Fenced<E> {
    pub fn new(inner: E, fence: Arc<Fence>) -> Fenced<E> {
        Fenced { inner, fence }
    }

    /// A dry run changes nothing, so it is never fenced.
    fn pass(&self, action: &'static str, dry_run: bool) -> Result<(), Ec2Error> {
        if dry_run {
            return Ok(());
        }
        self.fence
            .check()
            .map_err(|reason| Ec2Error::Fenced { action, reason })
    }
}

impl<E: Ec2> Ec2 for Fenced<E> {
    fn describe_route_tables(
        &self,
        vpc: &VpcId,
        ids: &[RouteTableId],
    ) -> Result<Vec<RouteTable>, Ec2Error> {
        self.inner.describe_route_tables(vpc, ids)
    }

    fn describe_network_interfaces(
        &self,
        vpc: &VpcId,
        ips: &[IpAddr],
    ) -> Result<Vec<NetworkInterface>, Ec2Error> {
        self.inner.describe_network_interfaces(vpc, ips)
    }

    fn create_route(
        &self,
        table: &RouteTableId,
        dest: &Cidr,
        eni: &EniId,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.pass("CreateRoute", dry_run)?;
        self.inner.create_route(table, dest, eni, dry_run)
    }

    fn replace_route(
        &self,
        table: &RouteTableId,
        dest: &Cidr,
        eni: &EniId,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.pass("ReplaceRoute", dry_run)?;
        self.inner.replace_route(table, dest, eni, dry_run)
    }

    fn delete_route(
        &self,
        table: &RouteTableId,
        dest: &Cidr,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.pass("DeleteRoute", dry_run)?;
        self.inner.delete_route(table, dest, dry_run)
    }

    fn disable_source_dest_check(&self, eni: &EniId, dry_run: bool) -> Result<(), Ec2Error> {
        self.pass("ModifyNetworkInterfaceAttribute", dry_run)?;
        self.inner.disable_source_dest_check(eni, dry_run)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::ec2::fake::{eni, table, FakeEc2};

    fn vpc() -> Mutex<FakeEc2> {
        Mutex::new(FakeEc2::new(
            "vpc-350d6a51",
            vec![table(
                "rtb-00000001",
                true,
                "10.33.0.0/16 local active table",
            )],
            vec![eni(
                "eni-0aaaaaaaaaaaaaaa1",
                "i-0aaaaaaaaaaaaaaa1",
                &["10.33.20.142"],
                false,
            )],
        ))
    }

    #[test]
    fn a_closed_fence_sends_no_mutating_call_and_says_why() {
        let (clock, _) = Clock::manual(SystemTime::UNIX_EPOCH);
        let fence = Arc::new(Fence::open(clock));
        let ec2 = Fenced::new(vpc(), fence.clone());
        let (rtb, cidr, eni) = (
            "rtb-00000001".parse().unwrap(),
            "10.55.0.0/16".parse().unwrap(),
            "eni-0aaaaaaaaaaaaaaa1".parse().unwrap(),
        );
        fence.refuse("this daemon is not the leader (the leader is vpc-router-b)");
        let e = ec2.create_route(&rtb, &cidr, &eni, false).unwrap_err();
        assert!(matches!(
            e,
            Ec2Error::Fenced {
                action: "CreateRoute",
                ..
            }
        ));
        assert_eq!(
            e.to_string(),
            "EC2 CreateRoute was not sent: this daemon is not the leader \
             (the leader is vpc-router-b)"
        );
        assert!(ec2.replace_route(&rtb, &cidr, &eni, false).is_err());
        assert!(ec2.delete_route(&rtb, &cidr, false).is_err());
        assert!(ec2.disable_source_dest_check(&eni, false).is_err());
        assert!(ec2.inner.lock().unwrap().mutations().is_empty());
        // Reads and dry runs change nothing, so they reach EC2.
        let vpc_id = "vpc-350d6a51".parse().unwrap();
        assert_eq!(ec2.describe_route_tables(&vpc_id, &[]).unwrap().len(), 1);
        let dry = ec2.create_route(&rtb, &cidr, &eni, true);
        assert!(!matches!(dry, Err(Ec2Error::Fenced { .. })), "{dry:?}");
        assert_eq!(ec2.inner.lock().unwrap().mutations().len(), 1);
        fence.allow();
        ec2.create_route(&rtb, &cidr, &eni, false).unwrap();
        assert_eq!(ec2.inner.lock().unwrap().mutations().len(), 2);
    }

    #[test]
    fn an_open_until_fence_closes_by_itself_at_its_deadline() {
        let (clock, hand) = Clock::manual(SystemTime::UNIX_EPOCH);
        let fence = Fence::open(clock.clone());
        fence.allow_until(
            clock.mono() + Duration::from_secs(2),
            "the lease may have expired",
        );
        assert_eq!(fence.check(), Ok(()));
        hand.advance(Duration::from_millis(1999));
        assert_eq!(fence.check(), Ok(()));
        hand.advance(Duration::from_millis(1));
        assert_eq!(fence.check(), Err("the lease may have expired".into()));
    }
}
