//! Layers' parameters and initialisation, optimizers.

pub mod params;
