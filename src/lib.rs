//! irlhf
