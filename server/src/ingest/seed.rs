//! The demo cluster compiled into the binary from `seed/`.

use crate::embedded::SEED;
use crate::model::Inventory;

/// Reads the embedded demo cluster.
pub fn load() -> Inventory {
    let mut inv = Inventory::default();
    for (file, text) in SEED {
        super::manifests::load_str(file, text, &mut inv);
    }
    super::manifests::finish(&mut inv);
    inv
}
