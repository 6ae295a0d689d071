//! Fault injection for tests (cargo feature `fault-injection`, off in release builds): make a
//! named service panic or hang on demand, to prove that supervision heals it.
//!
//! Without the feature, [`Faults`] is empty and [`Faults::hit`] compiles to nothing.

#[cfg(feature = "fault-injection")]
use std::collections::HashMap;
#[cfg(feature = "fault-injection")]
use std::sync::{Arc, Mutex};

/// A fault to inject into a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Panic at the next `n` checkpoints.
    Panic(u32),
    /// Never return from the next checkpoint (until the task is aborted).
    Hang,
}

/// The faults armed for each service, shared by the services of one node.
#[derive(Clone, Default)]
pub struct Faults {
    #[cfg(feature = "fault-injection")]
    armed: Arc<Mutex<HashMap<String, Fault>>>,
}

impl Faults {
    /// A checkpoint in `service`: triggers the fault armed for it, if any.
    #[cfg(not(feature = "fault-injection"))]
    #[inline(always)]
    pub async fn hit(&self, _service: &str) {}

    /// A checkpoint in `service`: triggers the fault armed for it, if any.
    #[cfg(feature = "fault-injection")]
    pub async fn hit(&self, service: &str) {
        let fault = {
            let mut armed = self.armed.lock().unwrap_or_else(|e| e.into_inner());
            match armed.get(service).copied() {
                Some(Fault::Panic(n)) if n > 1 => {
                    armed.insert(service.to_string(), Fault::Panic(n - 1));
                    Some(Fault::Panic(n))
                }
                Some(Fault::Panic(n)) => {
                    armed.remove(service);
                    Some(Fault::Panic(n))
                }
                Some(Fault::Hang) => {
                    armed.remove(service);
                    Some(Fault::Hang)
                }
                None => None,
            }
        };
        match fault {
            Some(Fault::Panic(_)) => panic!("injected fault: {service} panics"),
            Some(Fault::Hang) => {
                tracing::warn!(service, "injected fault: hanging");
                std::future::pending::<()>().await;
            }
            None => {}
        }
    }

    /// Arms a fault for `service`.
    #[cfg(feature = "fault-injection")]
    pub fn inject(&self, service: &str, fault: Fault) {
        self.armed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(service.to_string(), fault);
    }
}
