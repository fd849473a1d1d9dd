//! Prompt and demonstration datasets (work in progress).
