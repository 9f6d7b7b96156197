//! licd
