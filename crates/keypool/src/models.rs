//! How the pool names models (below the configuration and the pool, which both use it).

/// The model of a key that serves any model (no `model_name`), and of the bucket a project's
/// keys share for models without a bucket of their own.
pub const ANY_MODEL: &str = "*";

/// A model's id: `models/NAME` and `NAME` are the same model.
pub fn model_id(model: &str) -> &str {
    model.strip_prefix("models/").unwrap_or(model)
}
