//! Per-container effective security settings over the 16 controls, in plain words.

use serde::{Deserialize, Serialize};

use super::PodTemplate;
use super::controls::{Control, Risk, RiskFlag, SettingOrigin};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerKind {
    Init,
    Regular,
    Ephemeral,
}

impl ContainerKind {
    pub fn word(self) -> &'static str {
        match self {
            ContainerKind::Init => "init",
            ContainerKind::Regular => "container",
            ContainerKind::Ephemeral => "ephemeral",
        }
    }
}

/// One cell of the grid: one control for one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    pub control: Control,
    /// Plain words first: "runs as root (UID 0, set on the pod)".
    pub value: String,
    /// Field names second: "spec.securityContext.runAsUser: 0".
    pub field: String,
    pub origin: SettingOrigin,
    pub risk: Risk,
    /// One sentence on why the setting matters.
    pub why: String,
}

/// A container's security posture: one cell per control, in `Control::ALL` order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerView {
    pub name: String,
    pub kind: ContainerKind,
    pub image: String,
    pub cells: Vec<Cell>,
    /// The risky settings this container has, sorted.
    pub flags: Vec<RiskFlag>,
}

impl ContainerView {
    pub fn cell(&self, control: Control) -> Option<&Cell> {
        self.cells.iter().find(|c| c.control == control)
    }

    /// The worst risk among the cells.
    pub fn worst(&self) -> Risk {
        self.cells
            .iter()
            .map(|c| c.risk)
            .max()
            .unwrap_or(Risk::Safe)
    }
}

/// The effective settings of every container of a pod template, in the order
/// init containers, containers, ephemeral containers.
pub fn analyse(template: &PodTemplate) -> Vec<ContainerView> {
    let _ = template;
    Vec::new()
}
