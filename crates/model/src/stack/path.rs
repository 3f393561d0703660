//! The two compiled copies of the hot handlers: [`Plain`] for a stack with nothing optional
//! configured, [`Full`] for every other.

use stacksim_engine::Context;

use super::{Event, WebStack};
use crate::client::Client;
use crate::request::AttemptRef;

/// Which compiled copy of the hot handlers an event takes. Each handler that tests an
/// optional mechanism (overload controls, hedges, the fleet, the attempt log, a topology other
/// than one balancer over every backend) is generic over it, and tests `P::FULL` first: the
/// [`Plain`] copy, taken when none is configured, compiles without those tests, so that an
/// unconfigured mechanism costs nothing per event (measured in BENCHMARKS.md). The rare
/// handlers (hedges, crashes, the fleet, the timeline) exist once, as [`Full`].
///
/// The entry points are trait functions of the two (non-generic) impls, so that they are
/// compiled in this crate, with its optimisation settings, rather than wherever the event loop
/// is instantiated.
pub(super) trait Path {
    /// Whether this copy handles every mechanism (else: none of the optional ones).
    const FULL: bool;
    /// [`Event::Arrival`].
    fn arrive(stack: &mut WebStack, client: u32, cx: &mut Context<'_, Event>);
    /// [`Event::Completion`].
    fn complete(stack: &mut WebStack, attempt: AttemptRef, cx: &mut Context<'_, Event>);
    /// [`Event::Send`].
    fn send(stack: &mut WebStack, client: u32, user: u32, cx: &mut Context<'_, Event>);
    /// [`Event::Retry`].
    fn retry(stack: &mut WebStack, request: u32, cx: &mut Context<'_, Event>);
    /// [`Event::ClientTimeout`].
    fn client_timeout(stack: &mut WebStack, attempt: AttemptRef, cx: &mut Context<'_, Event>);
    /// [`Event::QueueTimeout`].
    fn queue_timeout(stack: &mut WebStack, attempt: AttemptRef, cx: &mut Context<'_, Event>);
}

/// The copy for a stack with nothing optional configured ([`WebStack::is_plain`]).
pub(super) enum Plain {}

/// The copy for every other stack.
pub(super) enum Full {}

macro_rules! path {
    ($path:ident, $full:literal) => {
        impl Path for $path {
            const FULL: bool = $full;
            fn arrive(stack: &mut WebStack, client: u32, cx: &mut Context<'_, Event>) {
                stack.arrive::<Self>(client, cx);
            }
            fn complete(stack: &mut WebStack, attempt: AttemptRef, cx: &mut Context<'_, Event>) {
                stack.complete::<Self>(attempt, cx);
            }
            fn send(stack: &mut WebStack, client: u32, user: u32, cx: &mut Context<'_, Event>) {
                stack.new_request::<Self>(client, None, Some(user), cx);
            }
            fn retry(stack: &mut WebStack, request: u32, cx: &mut Context<'_, Event>) {
                stack.send_attempt::<Self>(request, cx);
            }
            fn client_timeout(stack: &mut WebStack, attempt: AttemptRef, cx: &mut Context<'_, Event>) {
                stack.client_timeout::<Self>(attempt, cx);
            }
            fn queue_timeout(stack: &mut WebStack, attempt: AttemptRef, cx: &mut Context<'_, Event>) {
                stack.queue_timeout::<Self>(attempt, cx);
            }
        }
    };
}

path!(Plain, false);
path!(Full, true);

impl WebStack {
    /// Whether nothing optional is configured: no overload control, no hedges, no retry
    /// throttling, no fleet groups, no attempt log, and a tier of one balancer over every
    /// backend, picking per request, without zones ([`Tier::is_single`]). Then events take the
    /// [`Plain`] path.
    fn is_plain(&self) -> bool {
        !self.guarded
            && !self.clients.iter().any(Client::throttles_retries)
            && self.breakers.is_none()
            && self.balancer_guard.is_none()
            && self.hedges.is_none()
            && self.fleet.is_none()
            && self.attempt_log.is_none()
            && self.concurrency.is_none()
            && self.classes.is_none()
            && !self.shedding
            && self.tier.is_single()
    }

    /// Chooses the path events take, after construction or a change of the attempt log.
    pub(super) fn set_plain(&mut self) {
        self.plain = self.is_plain();
    }
}
