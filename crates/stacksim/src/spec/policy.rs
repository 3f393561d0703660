//! A balancer's `policy` as experiment files write it: a built-in from the policy catalog,
//! with its parameters, or a custom policy registered under a name.
//!
//! [`PolicySpec`] is generated from the catalog list,
//! [`builtin_policies!`](stacksim_model::builtin_policies): one variant per line, holding the
//! parameters type the policy's file defines. Its parsing, labels and checks all go through
//! the catalog entry, so nothing here names a particular policy.

mod variant;

use std::fmt;

use ron::error::SpannedError;
use ron::value::RawValue;
use serde::de::{self, DeserializeOwned, EnumAccess, MapAccess, VariantAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use stacksim_model::policy::catalog::{Entry, Info, Params};

use variant::{VariantDeserializer, VariantSerializer};

/// A built-in's catalog entry behind a reference.
trait AnyEntry: Params {
    fn info(&self) -> &'static Info;
    fn written(&self) -> Vec<String>;
}

impl<E: Entry> AnyEntry for E {
    fn info(&self) -> &'static Info {
        E::INFO
    }

    fn written(&self) -> Vec<String> {
        Entry::written(self)
    }
}

macro_rules! policy_spec {
    ($krate:tt; $($name:ident $(= $unit:ident)? $(($params:ident))?),* $(,)?) => {
        /// A balancing policy, by name, with its parameters: one of the built-ins of the
        /// [policy catalog](stacksim_model::policy::catalog) (`stacksim policies` lists them;
        /// each variant holds the parameters type of its entry), or a custom policy
        /// registered with a [`PolicyRegistry`](crate::PolicyRegistry).
        ///
        /// Parameters with a default may be left out: `Maglev()` is `Maglev(table_size:
        /// 65537)`, and is labelled `Maglev`.
        ///
        /// ```
        /// use stacksim::model::policy::MaglevSpec;
        /// use stacksim::spec::PolicySpec;
        ///
        /// let maglev: PolicySpec = "Maglev(table_size: 5003)".parse()?;
        /// assert_eq!(maglev, PolicySpec::Maglev(MaglevSpec { table_size: 5003 }));
        /// assert_eq!(maglev.to_string(), "Maglev(table_size: 5003)");
        /// assert_eq!(PolicySpec::from(MaglevSpec::default()).to_string(), "Maglev");
        /// assert_eq!(PolicySpec::RoundRobin.to_string(), "RoundRobin");
        /// assert!(maglev.routes_on_keys());
        /// # Ok::<(), ron::error::SpannedError>(())
        /// ```
        #[derive(Clone, Debug, PartialEq)]
        pub enum PolicySpec {
            $(
                #[doc = concat!(
                    "`", stringify!($name), "`: its parameters, catalog entry and semantics are [`",
                    stringify!($($unit)? $($params)?), "`](crate::model::policy::",
                    stringify!($($unit)? $($params)?), ")."
                )]
                $name $(($krate::policy::$params))?,
            )*
            /// A policy registered by a library user under a name: `Custom("mine")`, or
            /// `Custom(name: "mine", params: (...))` for one registered with parameters.
            Custom(CustomSpec),
        }

        impl PolicySpec {
            /// The names experiment files may write, in catalog order, then `Custom`.
            const VARIANTS: &'static [&'static str] = &[$(stringify!($name),)* "Custom"];

            /// The catalog entry of a built-in; the custom policy's name and parameters
            /// otherwise.
            fn entry(&self) -> Result<&dyn AnyEntry, &CustomSpec> {
                match self {
                    $(
                        $(PolicySpec::$name => Ok(&$krate::policy::$unit),)?
                        $(PolicySpec::$name(params) => Ok(params as &$krate::policy::$params),)?
                    )*
                    PolicySpec::Custom(custom) => Err(custom),
                }
            }

            /// Every built-in with each of its example parameters, in catalog order.
            #[cfg(test)]
            pub(crate) fn every_example() -> Vec<PolicySpec> {
                let mut all = Vec::new();
                $(all.extend(
                    <$krate::policy::$($unit)? $($params)? as Entry>::examples().into_iter().map(PolicySpec::from),
                );)*
                all
            }

            /// Reads the variant called `name` from `variant`.
            fn read_variant<'de, A: VariantAccess<'de>>(name: &str, variant: A) -> Result<Self, A::Error> {
                Ok(match name {
                    $(
                        $(stringify!($name) => {
                            <$krate::policy::$unit as Deserialize>::deserialize(VariantDeserializer(variant))?;
                            PolicySpec::$name
                        })?
                        $(stringify!($name) => PolicySpec::$name(
                            <$krate::policy::$params as Deserialize>::deserialize(VariantDeserializer(variant))?,
                        ),)?
                    )*
                    "Custom" => PolicySpec::Custom(variant.newtype_variant_seed(CustomSeed)?),
                    _ => return Err(de::Error::unknown_variant(name, Self::VARIANTS)),
                })
            }

            /// Writes the variant as `serializer` would a derived enum's.
            fn write_variant<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let (name, index) = self.name_and_index();
                let variant = VariantSerializer { inner: serializer, name: "PolicySpec", index, variant: name };
                match self {
                    $(
                        $(PolicySpec::$name => $krate::policy::$unit.serialize(variant),)?
                        $(PolicySpec::$name(params) => <$krate::policy::$params as Serialize>::serialize(params, variant),)?
                    )*
                    PolicySpec::Custom(custom) => {
                        variant.inner.serialize_newtype_variant("PolicySpec", index, name, &CustomBody(custom))
                    }
                }
            }
        }

        $(
            $(impl From<$krate::policy::$unit> for PolicySpec {
                fn from(_: $krate::policy::$unit) -> Self {
                    PolicySpec::$name
                }
            })?
            $(impl From<$krate::policy::$params> for PolicySpec {
                fn from(params: $krate::policy::$params) -> Self {
                    PolicySpec::$name(params)
                }
            })?
        )*
    };
}

stacksim_model::builtin_policies!(policy_spec);

impl PolicySpec {
    /// The custom policy registered as `name`, without parameters: `Custom("name")`.
    pub fn custom(name: impl Into<String>) -> Self {
        PolicySpec::Custom(CustomSpec::new(name))
    }

    /// What the catalog says about this built-in (name, summary, source, parameters); `None`
    /// for a custom policy.
    pub fn info(&self) -> Option<&'static Info> {
        self.entry().ok().map(|entry| entry.info())
    }

    /// This built-in's parameters, which check themselves and build the policy; `None` for
    /// a custom policy (its [registry](crate::PolicyRegistry) does both).
    pub fn params(&self) -> Option<&dyn Params> {
        self.entry().ok().map(|entry| entry as &dyn Params)
    }

    /// This built-in's parameters, or the custom policy's name and parameters.
    pub(crate) fn builtin_or_custom(&self) -> Result<&dyn Params, &CustomSpec> {
        self.entry().map(|entry| entry as &dyn Params)
    }

    /// Whether the policy routes on request keys (and so needs clients with `users` to mean
    /// anything).
    pub fn routes_on_keys(&self) -> bool {
        self.info().is_some_and(|info| info.routes_on_keys)
    }

    /// Whether it sends every backend its weight's share of the requests whatever their load
    /// (round robin, random, hashing), so that a backend's load follows from the weights.
    pub fn splits_by_weight(&self) -> bool {
        self.info().is_some_and(|info| info.splits_by_weight)
    }

    fn name_and_index(&self) -> (&'static str, u32) {
        let name = self.info().map_or("Custom", |info| info.name);
        let index = Self::VARIANTS.iter().position(|v| *v == name).unwrap_or(Self::VARIANTS.len() - 1);
        (Self::VARIANTS[index], index as u32)
    }
}

/// As written in experiment files, parameters that differ from their defaults only (so a
/// sweep's labels stay short): `RingHash(entries_per_host: 40)`, `Maglev`, `PeakEwma(decay: "5s")`,
/// `Custom("mine")`, `Custom(name: "mine", params: (limit: 3))`.
impl fmt::Display for PolicySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.entry() {
            Ok(entry) => {
                f.write_str(entry.info().name)?;
                let written = entry.written();
                if !written.is_empty() {
                    write!(f, "({})", written.join(", "))?;
                }
                Ok(())
            }
            Err(custom) => custom.fmt(f),
        }
    }
}

/// Parses a policy as an experiment file writes it: `"Maglev(table_size: 5003)"`.
impl std::str::FromStr for PolicySpec {
    type Err = SpannedError;

    fn from_str(text: &str) -> Result<Self, SpannedError> {
        ron::Options::default().with_default_extension(ron_extensions(text)).from_str(text)
    }
}

impl Serialize for PolicySpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.write_variant(serializer)
    }
}

impl<'de> Deserialize<'de> for PolicySpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PolicyVisitor;

        impl<'de> Visitor<'de> for PolicyVisitor {
            type Value = PolicySpec;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a balancing policy, like RoundRobin or Maglev(table_size: 5003)")
            }

            fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<PolicySpec, A::Error> {
                let (name, variant): (VariantName, _) = data.variant()?;
                PolicySpec::read_variant(&name.0, variant)
            }
        }

        deserializer.deserialize_enum("PolicySpec", PolicySpec::VARIANTS, PolicyVisitor)
    }
}

/// The name of a `PolicySpec` variant, checked against the catalog as it is read (so that an
/// unknown one is reported where it is written, like a derived enum's).
struct VariantName(String);

impl<'de> Deserialize<'de> for VariantName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;

        impl Visitor<'_> for NameVisitor {
            type Value = VariantName;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("variant identifier")
            }

            fn visit_str<E: de::Error>(self, name: &str) -> Result<VariantName, E> {
                if PolicySpec::VARIANTS.contains(&name) {
                    Ok(VariantName(name.to_owned()))
                } else {
                    Err(de::Error::unknown_variant(name, PolicySpec::VARIANTS))
                }
            }
        }

        deserializer.deserialize_identifier(NameVisitor)
    }
}

/// A policy registered by a library user, by name, with the parameters written for it.
#[derive(Clone, Debug, PartialEq)]
pub struct CustomSpec {
    /// The name it is registered under.
    pub name: String,
    /// Its parameters as written, for its registration to read (`params: (limit: 3)`).
    /// Default: none, read as `()` (every parameter at its default).
    pub params: Option<Box<RawValue>>,
}

impl CustomSpec {
    /// The custom policy `name`, without parameters.
    pub fn new(name: impl Into<String>) -> Self {
        CustomSpec { name: name.into(), params: None }
    }

    /// The custom policy `name` with `params`, written as RON.
    ///
    /// ```
    /// use stacksim::spec::{CustomSpec, PolicySpec};
    ///
    /// #[derive(serde::Serialize)]
    /// struct Limits {
    ///     limit: u32,
    /// }
    ///
    /// let spec = CustomSpec::with_params("mine", &Limits { limit: 3 })?;
    /// assert_eq!(PolicySpec::Custom(spec).to_string(), r#"Custom(name: "mine", params: (limit:3))"#);
    /// # Ok::<(), ron::Error>(())
    /// ```
    pub fn with_params(name: impl Into<String>, params: &impl Serialize) -> Result<Self, ron::Error> {
        Ok(CustomSpec { name: name.into(), params: Some(RawValue::from_rust(params)?) })
    }

    /// Its parameters read as `P` (`()` when none were written), as experiment files are
    /// read: optional values may be written bare.
    pub fn read_params<P: DeserializeOwned>(&self) -> Result<P, SpannedError> {
        let text = self.params.as_deref().map_or("()", RawValue::get_ron);
        ron::Options::default()
            .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
            .from_str(text)
    }
}

impl fmt::Display for CustomSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.params {
            None => write!(f, "Custom({:?})", self.name),
            Some(params) => write!(f, "Custom(name: {:?}, params: {params})", self.name),
        }
    }
}

/// The inside of `Custom(...)`: a name, or named fields.
struct CustomBody<'a>(&'a CustomSpec);

impl Serialize for CustomBody<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        match &self.0.params {
            None => serializer.serialize_str(&self.0.name),
            Some(params) => {
                let mut fields = serializer.serialize_struct("CustomSpec", 2)?;
                fields.serialize_field("name", &self.0.name)?;
                fields.serialize_field("params", params)?;
                fields.end()
            }
        }
    }
}

struct CustomSeed;

impl<'de> de::DeserializeSeed<'de> for CustomSeed {
    type Value = CustomSpec;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<CustomSpec, D::Error> {
        deserializer.deserialize_any(self)
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum CustomField {
    Name,
    Params,
}

impl<'de> Visitor<'de> for CustomSeed {
    type Value = CustomSpec;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a registered policy's name, like "mine", or its name and parameters, like name: "mine", params: (limit: 3),"#)
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<CustomSpec, E> {
        Ok(CustomSpec::new(name))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CustomSpec, A::Error> {
        let (mut name, mut params) = (None, None);
        while let Some(field) = map.next_key()? {
            match field {
                CustomField::Name if name.is_some() => return Err(de::Error::duplicate_field("name")),
                CustomField::Name => name = Some(map.next_value::<String>()?),
                CustomField::Params if params.is_some() => return Err(de::Error::duplicate_field("params")),
                CustomField::Params => params = Some(map.next_value::<Box<RawValue>>()?),
            }
        }
        let name = name.ok_or_else(|| de::Error::missing_field("name"))?;
        Ok(CustomSpec { name, params })
    }
}

/// The ron extensions experiment text is read with: optional values written bare
/// (`weight: 3`, not `weight: Some(3)`), and, only in text that gives a custom policy
/// parameters (`Custom(name: "mine", params: (…))`), `unwrap_variant_newtypes`, which reads
/// that newtype variant with its fields written inline. Only there, because the extension
/// also changes how an explicit `Some((…))` reads, and every file without such a policy must
/// read as it always has.
pub(crate) fn ron_extensions(source: &str) -> ron::extensions::Extensions {
    use ron::extensions::Extensions;
    if crate::locate::written_with_fields(source, "Custom") {
        Extensions::IMPLICIT_SOME | Extensions::UNWRAP_VARIANT_NEWTYPES
    } else {
        Extensions::IMPLICIT_SOME
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stacksim_model::policy::catalog::BUILTINS;

    /// `text` parsed, or the test fails with ron's message.
    fn parse(text: &str) -> PolicySpec {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn every_catalog_example_prints_as_written_and_reads_back() {
        let examples = PolicySpec::every_example();
        assert!(examples.len() > BUILTINS.len(), "every entry has examples");
        for spec in examples {
            let text = spec.to_string();
            let info = spec.info().unwrap();
            assert!(text.starts_with(info.name), "{text}");
            // A label leaves out a parameterized policy's empty parentheses (`Maglev`); the
            // file format needs them (`Maglev()`).
            let written = if !info.params.is_empty() && !text.contains('(') {
                format!("{text}()")
            } else {
                text.clone()
            };
            assert_eq!(parse(&written), spec, "{written}");
            assert_eq!(parse(&written).to_string(), text);
            // Through serde, in RON and in JSON.
            let ron = ron::to_string(&spec).unwrap();
            assert_eq!(parse(&ron), spec, "{ron}");
            let json = serde_json::to_string(&spec).unwrap();
            assert_eq!(serde_json::from_str::<PolicySpec>(&json).unwrap(), spec, "{json}");
        }
    }

    #[test]
    fn every_catalog_entry_is_a_variant_in_catalog_order() {
        let names: Vec<&str> = BUILTINS.iter().map(|b| b.info().name).chain(["Custom"]).collect();
        assert_eq!(PolicySpec::VARIANTS, names);
        for spec in PolicySpec::every_example() {
            let (name, index) = spec.name_and_index();
            assert_eq!(PolicySpec::VARIANTS[index as usize], name, "{spec}");
            assert_eq!(Some(name), spec.info().map(|i| i.name));
        }
    }

    #[test]
    fn parameters_are_those_listed_with_the_defaults_listed() {
        for spec in PolicySpec::every_example() {
            let info = spec.info().unwrap();
            // A unit variant is a string; a newtype (`RandomChoices(3)`) has one positional
            // parameter; a struct variant has its parameters as fields.
            let fields = match serde_json::to_value(&spec).unwrap() {
                serde_json::Value::Object(mut variant) => variant.remove(info.name).unwrap(),
                unit => unit,
            };
            let serde_json::Value::Object(fields) = fields else {
                assert!(info.params.len() <= 1, "{spec}");
                continue;
            };
            let mut listed: Vec<&str> = info.params.iter().map(|p| p.name).collect();
            listed.sort_unstable();
            assert_eq!(fields.keys().map(String::as_str).collect::<Vec<_>>(), listed, "{spec}");
            // Written with its required parameters only, every other one takes its default.
            let required: Vec<String> = info
                .params
                .iter()
                .filter(|p| p.default.is_none())
                .map(|p| format!("{}: {}", p.name, fields[p.name]))
                .collect();
            let defaulted = parse(&format!("{}({})", info.name, required.join(", ")));
            let defaults = &serde_json::to_value(&defaulted).unwrap()[info.name];
            for param in info.params.iter().filter(|p| p.default.is_some()) {
                let default = defaults[param.name].to_string();
                assert_eq!(Some(default.as_str()), param.default, "{}.{}", info.name, param.name);
            }
        }
    }

    #[test]
    fn labels_are_as_before() {
        for (written, label) in [
            ("Maglev()", "Maglev"),
            ("RingHash()", "RingHash"),
            ("PeakEwma()", "PeakEwma"),
            ("LeastRequest()", "LeastRequest"),
            ("RingHash(entries_per_host: 40)", "RingHash(entries_per_host: 40)"),
            ("Maglev(table_size: 5003)", "Maglev(table_size: 5003)"),
            ("LeastRequest(choice_count: 3)", "LeastRequest(choice_count: 3)"),
            ("LeastRequest(active_request_bias: 0.5)", "LeastRequest(active_request_bias: 0.5)"),
            ("PeakEwma(decay: \"5s\")", "PeakEwma(decay: \"5s\")"),
            ("BoundedLoadHash(factor: 1.25)", "BoundedLoadHash(factor: 1.25)"),
            (
                "BoundedLoadHash(factor: 2.0, entries_per_host: 10)",
                "BoundedLoadHash(factor: 2.0, entries_per_host: 10)",
            ),
            ("First(max_in_flight: 8)", "First(max_in_flight: 8)"),
            ("RandomChoices(3)", "RandomChoices(3)"),
            ("PowerOfTwoChoices", "PowerOfTwoChoices"),
            ("Custom(\"mine\")", "Custom(\"mine\")"),
        ] {
            assert_eq!(parse(written).to_string(), label);
        }
    }

    #[test]
    fn unknown_parameters_and_policies_are_errors() {
        let error = |text: &str| text.parse::<PolicySpec>().unwrap_err().code.to_string();
        assert!(error("Maglev(table_sise: 5)").contains("table_sise"));
        assert!(error("RoundRobbin").contains("expected one of `RoundRobin`"));
        assert!(error("BoundedLoadHash()").contains("factor"));
    }

    #[test]
    fn custom_policies_take_a_name_or_a_name_and_parameters() {
        assert_eq!(parse("Custom(\"mine\")"), PolicySpec::custom("mine"));
        assert_eq!(parse("Custom(name: \"mine\")"), PolicySpec::custom("mine"));
        let text = "Custom(name: \"mine\", params: (limit: 3, mode: Fast))";
        let spec = parse(text);
        let PolicySpec::Custom(custom) = &spec else { panic!("{spec:?}") };
        assert_eq!(custom.name, "mine");
        assert_eq!(custom.params.as_deref().map(RawValue::get_ron), Some("(limit: 3, mode: Fast)"));
        assert_eq!(spec.to_string(), text);
        assert_eq!(parse(&ron::to_string(&spec).unwrap()), spec);
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<PolicySpec>(&json).unwrap(), spec, "{json}");
        for wrong in
            ["Custom(name: \"a\", name: \"b\")", "Custom(params: ())", "Custom(name: \"a\", limit: 3)"]
        {
            assert!(wrong.parse::<PolicySpec>().is_err(), "{wrong}");
        }
    }

    #[test]
    fn the_parameters_form_is_read_only_where_it_is_written() {
        use ron::extensions::Extensions;
        assert_eq!(ron_extensions("(policy: Custom(\"a\"))"), Extensions::IMPLICIT_SOME);
        assert!(
            ron_extensions("(policy: Custom(name: \"a\"))").contains(Extensions::UNWRAP_VARIANT_NEWTYPES)
        );
    }
}
