//! `dryRun=All`: writes run against a throwaway copy of the state, so they are fully processed
//! (defaults, validation, conflicts) but nothing is stored and no watch sees them. No I/O.

use std::sync::MutexGuard;

use super::request::Call;
use super::sim::Sim;
use super::store::State;

/// The state a write works on: the live one, or a throwaway copy for `dryRun=All` (the
/// request is fully processed, nothing is stored and no watch sees it).
pub(crate) enum Writable<'a> {
    /// The live state.
    Live(MutexGuard<'a, State>),
    /// A throwaway copy.
    Dry(Box<State>),
}

impl std::ops::Deref for Writable<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        match self {
            Self::Live(g) => g,
            Self::Dry(s) => s,
        }
    }
}

impl std::ops::DerefMut for Writable<'_> {
    fn deref_mut(&mut self) -> &mut State {
        match self {
            Self::Live(g) => g,
            Self::Dry(s) => s,
        }
    }
}

/// Whether the request is a `dryRun=All` write.
pub(crate) fn is_dry_run(call: &Call) -> bool {
    call.query.get("dryRun").is_some_and(|d| d == "All")
}

/// The state for this request's write (a copy when `dryRun=All`).
pub(crate) fn writable<'a>(sim: &'a Sim, call: &Call) -> Writable<'a> {
    let st = sim.lock();
    if is_dry_run(call) {
        Writable::Dry(Box::new(st.dry_copy()))
    } else {
        Writable::Live(st)
    }
}
