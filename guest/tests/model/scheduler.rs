//! Deterministic interleaving of real threads. Each actor (a sync, a
//! webhook delivery) runs the guest's real code on its own thread, but only
//! one runs at a time: at every yield point (each store operation, each
//! HTTP request, each sleep) it parks until the controller, choosing with a
//! seeded generator, lets it take its next step. So a seed names one
//! interleaving exactly, and a failure is reproduced by its seed.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Condvar, Mutex};

thread_local! {
    static ME: Cell<Option<usize>> = const { Cell::new(None) };
}

#[derive(Default)]
struct State {
    running: Option<usize>,
    parked: BTreeSet<usize>,
    live: BTreeSet<usize>,
    next_id: usize,
    panic: Option<String>,
}

#[derive(Default)]
pub struct Scheduler {
    state: Mutex<State>,
    turn: Condvar,
}

impl Scheduler {
    /// Starts `work` as an actor, parked before its first step.
    pub fn spawn(self: &Arc<Self>, work: impl FnOnce() + Send + 'static) -> usize {
        let id = {
            let mut state = self.state.lock().unwrap();
            state.next_id += 1;
            let id = state.next_id;
            state.live.insert(id);
            id
        };
        let scheduler = self.clone();
        std::thread::spawn(move || {
            ME.with(|me| me.set(Some(id)));
            scheduler.park(id);
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(work));
            let mut state = scheduler.state.lock().unwrap();
            if let Err(panic) = outcome {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "an actor panicked".into());
                state.panic.get_or_insert(message);
            }
            state.live.remove(&id);
            state.running = None;
            scheduler.turn.notify_all();
        });
        let mut state = self.state.lock().unwrap();
        while !state.parked.contains(&id) {
            state = self.turn.wait(state).unwrap();
        }
        id
    }

    /// Called by the fakes: parks the calling actor until its next turn.
    /// Does nothing on the controller's own thread.
    pub fn yield_point(&self) {
        if let Some(me) = ME.with(Cell::get) {
            self.park(me);
        }
    }

    fn park(&self, me: usize) {
        let mut state = self.state.lock().unwrap();
        state.parked.insert(me);
        if state.running == Some(me) {
            state.running = None;
        }
        self.turn.notify_all();
        while state.running != Some(me) {
            state = self.turn.wait(state).unwrap();
        }
        state.parked.remove(&me);
    }

    /// The actors waiting for a turn.
    pub fn parked(&self) -> Vec<usize> {
        self.state.lock().unwrap().parked.iter().copied().collect()
    }

    pub fn is_live(&self, id: usize) -> bool {
        self.state.lock().unwrap().live.contains(&id)
    }

    /// Lets `id` run to its next yield point or its end.
    pub fn step(&self, id: usize) {
        let mut state = self.state.lock().unwrap();
        assert!(state.parked.contains(&id), "actor {id} is not waiting");
        state.running = Some(id);
        self.turn.notify_all();
        while state.running == Some(id) {
            state = self.turn.wait(state).unwrap();
        }
    }

    /// The first panic of any actor.
    pub fn panic(&self) -> Option<String> {
        self.state.lock().unwrap().panic.clone()
    }
}
