//! Every built-in policy keeps the contract: picks in range and available, none only when
//! nothing is available, deterministic, no panic at any size.
//!
//! The tests come from the policy catalog (`stacksim_model::builtin_policies!`): one per
//! built-in, named after it, checking each of the example parameters its catalog entry
//! gives. A new policy is checked as soon as it has its catalog line.

use stacksim_model::policy::Maglev;
use stacksim_model::policy::catalog::{BUILTINS, Entry};
use stacksim_testkit::{check_policy, check_policy_with};

use super::config;

/// Built-ins whose typical parameters (their first example) rebuild a large ring or table on
/// every backend change, up to 51,200 ring points or 65,537 Maglev entries: that example gets
/// fewer cases, so the suite stays quick in debug builds.
const LARGE_TABLES: &[&str] = &["RingHash", "Maglev", "BoundedLoadHash"];

/// Checks the contract for each of `E`'s example parameters, naming them on failure.
#[track_caller]
fn keeps_the_contract<E: Entry>() {
    for (i, params) in E::examples().into_iter().enumerate() {
        let cases = if i == 0 && LARGE_TABLES.contains(&E::INFO.name) { 64 } else { 256 };
        // Shown with the failure, to say which parameters failed.
        println!("checking {params:?} on {cases} cases");
        check_policy_with(&config(cases), || params.build());
    }
}

#[test]
fn the_large_tables_are_built_ins() {
    for name in LARGE_TABLES {
        assert!(BUILTINS.iter().any(|b| b.info().name == *name), "{name} is not in the catalog");
    }
}

mod every_builtin_keeps_the_contract {
    macro_rules! contract_tests {
        ($krate:tt; $($name:ident $(= $unit:ident)? $(($params:ident))?),* $(,)?) => {
            $(
                #[test]
                #[allow(non_snake_case)]
                fn $name() {
                    super::keeps_the_contract::<$krate::policy::$($unit)? $($params)?>();
                }
            )*
        };
    }

    stacksim_model::builtin_policies!(contract_tests);
}

#[test]
fn maglev_with_a_composite_table_size_still_keeps_the_contract() {
    // Validation asks for a prime; the policy must still give valid picks without one.
    check_policy(|| Maglev::new(12));
}
