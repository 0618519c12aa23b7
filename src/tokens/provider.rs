//! STUB provider
