//! placeholder

/// Not yet implemented.
pub fn import(_bytes: &[u8]) -> Result<crate::ImportResult, crate::ImportError> {
    Err(crate::ImportError::UnknownFormat("not implemented".into()))
}
