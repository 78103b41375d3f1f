use tmc_model::{Draft, SystemModel};
use crate::ExportError;
pub fn to_threagile(_model: &SystemModel, _draft: &Draft) -> Result<String, ExportError> { Ok(String::new()) }
