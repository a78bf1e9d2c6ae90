//! The registry of methods by name: the built-in ones and any a user adds.

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::UnlearnError;
use crate::method::UnlearningMethod;

type Build = dyn Fn(
        &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Box<dyn UnlearningMethod>, UnlearnError>
    + Send
    + Sync;

/// How to build one method: its name (the one its defaults report through
/// [`UnlearningMethod::name`]), a one-line summary, and its defaults, overridable key by key.
#[derive(Clone)]
pub struct MethodFactory {
    name: String,
    summary: String,
    defaults: serde_json::Value,
    build: Arc<Build>,
}

impl std::fmt::Debug for MethodFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MethodFactory")
            .field("name", &self.name)
            .field("defaults", &self.defaults)
            .finish_non_exhaustive()
    }
}

impl MethodFactory {
    /// A factory of the method that `defaults` constructs: overrides are written over its
    /// serialized fields, so every hyperparameter is a key and an unknown key is an error.
    ///
    /// ```
    /// use lume_unlearn::{GradientAscent, MethodFactory, Registry};
    /// let registry = Registry::new().with(MethodFactory::of("plain GA", GradientAscent::default));
    /// assert_eq!(registry.names(), ["ga"]);
    /// ```
    pub fn of<M, F>(summary: &str, defaults: F) -> Self
    where
        M: UnlearningMethod + Serialize + DeserializeOwned + 'static,
        F: Fn() -> M + Send + Sync + 'static,
    {
        let method = defaults();
        let name = method.name().to_string();
        let hyperparameters = method.hyperparameters();
        let key = name.clone();
        MethodFactory {
            name,
            summary: summary.to_string(),
            defaults: hyperparameters,
            build: Arc::new(move |overrides| {
                Ok(Box::new(configure(&key, defaults(), overrides)?) as Box<dyn UnlearningMethod>)
            }),
        }
    }

    /// The registry's name of the method.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// One line on what it does.
    pub fn summary(&self) -> &str {
        &self.summary
    }

    /// Its default hyperparameters.
    pub fn defaults(&self) -> &serde_json::Value {
        &self.defaults
    }

    /// The method with `overrides` written over its defaults.
    pub fn build(
        &self,
        overrides: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Box<dyn UnlearningMethod>, UnlearnError> {
        (self.build)(overrides)
    }
}

/// Methods by name, in listing order. [`Registry::builtin`] holds the field's methods; a
/// method written elsewhere joins with [`Registry::with`] and then runs wherever a name is
/// taken (`lume_bench`, the CLI).
///
/// ```
/// use lume_unlearn::Registry;
/// let registry = Registry::builtin();
/// assert!(registry.names().contains(&"npo-gd"));
/// let gd = registry.build("gd", &Default::default()).unwrap();
/// assert_eq!(gd.hyperparameters()["alpha"], 1.0);
/// assert!(registry.build("nope", &Default::default()).is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Registry {
    factories: Vec<MethodFactory>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// The field's methods (protocol §4).
    pub fn builtin() -> Self {
        super::builtin_factories()
            .into_iter()
            .fold(Registry::new(), Registry::with)
    }

    /// This registry with `factory` added, or in place of the one of the same name.
    pub fn with(mut self, factory: MethodFactory) -> Self {
        match self.factories.iter_mut().find(|f| f.name == factory.name) {
            Some(slot) => *slot = factory,
            None => self.factories.push(factory),
        }
        self
    }

    /// Every name, in listing order.
    pub fn names(&self) -> Vec<&str> {
        self.factories.iter().map(|f| f.name.as_str()).collect()
    }

    /// Every factory, in listing order.
    pub fn factories(&self) -> &[MethodFactory] {
        &self.factories
    }

    /// The factory called `name`.
    pub fn get(&self, name: &str) -> Result<&MethodFactory, UnlearnError> {
        self.factories
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| UnlearnError::UnknownMethod {
                name: name.to_string(),
                known: self.names().join(", "),
            })
    }

    /// The method called `name`, its defaults overridden by `overrides`.
    pub fn build(
        &self,
        name: &str,
        overrides: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Box<dyn UnlearningMethod>, UnlearnError> {
        self.get(name)?.build(overrides)
    }
}

fn configure<T: Serialize + DeserializeOwned>(
    name: &str,
    base: T,
    overrides: &serde_json::Map<String, serde_json::Value>,
) -> Result<T, UnlearnError> {
    let bad = |message: String| UnlearnError::BadHyperparameter {
        method: name.to_string(),
        message,
    };
    let mut value = serde_json::to_value(&base).map_err(|e| bad(e.to_string()))?;
    override_known(&mut value, overrides, "").map_err(bad)?;
    serde_json::from_value(value).map_err(|e| bad(e.to_string()))
}

/// Writes `overrides` into `value`, key by key (nested tables key by key too), refusing keys
/// the defaults do not have.
fn override_known(
    value: &mut serde_json::Value,
    overrides: &serde_json::Map<String, serde_json::Value>,
    prefix: &str,
) -> Result<(), String> {
    let Some(object) = value.as_object_mut() else {
        return Err(format!("`{prefix}` is not a table"));
    };
    for (key, v) in overrides {
        let Some(slot) = object.get_mut(key) else {
            let known: Vec<String> = object.keys().map(|k| format!("{prefix}{k}")).collect();
            return Err(format!(
                "unknown hyperparameter `{prefix}{key}` (known: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ));
        };
        match (slot.is_object(), v.as_object()) {
            (true, Some(nested)) => override_known(slot, nested, &format!("{prefix}{key}."))?,
            _ => *slot = v.clone(),
        }
    }
    Ok(())
}
