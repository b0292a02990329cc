//! The rules in force, held in memory: every reader (pages, alerts, the
//! advisor, the admission webhook) takes the current [`Rules`] without
//! touching the database, and every writer reloads them after its change
//! commits. Readers that keep derived state watch [`RulesHandle::subscribe`].

use std::sync::{Arc, RwLock};

use sqlx::SqlitePool;
use tokio::sync::watch;

use crate::policy::assignments::Rules;
use crate::store;

/// Shared handle to the current rules.
#[derive(Debug)]
pub struct RulesHandle {
    current: RwLock<Arc<Rules>>,
    /// Serialises reloads so generations only grow.
    reload: tokio::sync::Mutex<()>,
    changed: watch::Sender<u64>,
}

impl Default for RulesHandle {
    fn default() -> Self {
        RulesHandle {
            current: RwLock::new(Arc::new(Rules::default())),
            reload: tokio::sync::Mutex::new(()),
            changed: watch::channel(0).0,
        }
    }
}

impl RulesHandle {
    /// Loads the rules from the database.
    pub async fn load(pool: &SqlitePool) -> Result<RulesHandle, sqlx::Error> {
        let h = RulesHandle::default();
        h.reload(pool).await?;
        Ok(h)
    }

    /// The rules in force now.
    pub fn get(&self) -> Arc<Rules> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Re-reads assignments, exemptions and custom profiles after a change,
    /// and tells the subscribers.
    pub async fn reload(&self, pool: &SqlitePool) -> Result<Arc<Rules>, sqlx::Error> {
        let _one = self.reload.lock().await;
        let generation = self.get().generation + 1;
        let rules = Arc::new(store::assignments::load_rules(pool, generation).await?);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = rules.clone();
        self.changed.send_replace(generation);
        Ok(rules)
    }

    /// Receives the generation after each reload.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}
