use tmc_model::{Draft, SystemModel};
use crate::ExportError;
pub fn to_threat_dragon(_model: &SystemModel, _draft: &Draft) -> Result<String, ExportError> { Ok(String::new()) }
