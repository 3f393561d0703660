use serde::{Deserialize, Serialize};
use stacksim_engine::rng::splitmix64;

use super::catalog::{Context, Entry, Info, Param, Params, Problem, written_unless_default};
use super::{BackendState, Policy, RequestInfo, SimRng, key_hash};

/// Salts for a backend's two permutation hashes (offset and skip).
const OFFSET_SALT: u64 = 0x6d61_676c_6576_3031; // "maglev01"
const SKIP_SALT: u64 = 0x6d61_676c_6576_3032; // "maglev02"

/// Maglev consistent hashing (Eisenbud et al., NSDI 2016) with Envoy's weighted table
/// population (`MaglevTable`, `source/extensions/load_balancing_policies/maglev`).
///
/// A lookup table of `table_size` entries (a prime) is filled by the available backends in
/// turns; each walks its own permutation of the table, `offset + j × skip (mod size)`, and
/// takes the next entry not yet taken. With weights, a backend takes a turn in round
/// `k` only when `k × weight ≥ its target`, and its target then grows by the largest weight
/// (Envoy's `target_weight_`), so weights 1:2 fill 21,846 and 43,691 of 65,537 entries. A
/// request goes to `table[hash(key) mod size]`: O(1), near-perfectly even shares, and when a
/// backend leaves, most keys of the others stay put (the paper's "minimal disruption"; a few
/// percent move besides the leaving backend's own).
///
/// A backend's offset and skip are stable hashes of its index (SplitMix64), where Envoy hashes
/// the host address with xxHash. The table is rebuilt whenever the backends change.
#[derive(Clone, Debug)]
pub struct Maglev {
    size: u64,
    table: Vec<u32>,
    /// Scratch for the build: per available backend (index, weight, offset, skip, next, target).
    build: Vec<Builder>,
}

#[derive(Clone, Copy, Debug)]
struct Builder {
    backend: usize,
    weight: u64,
    offset: u64,
    skip: u64,
    next: u64,
    target: u64,
}

impl Maglev {
    /// The default lookup-table size: Envoy's and the Maglev paper's 65,537 (a prime).
    pub const DEFAULT_TABLE_SIZE: u32 = 65_537;

    /// The largest table Envoy accepts: 5,000,011 entries.
    pub const MAX_TABLE_SIZE: u32 = 5_000_011;

    /// A Maglev table of `table_size` entries. The size should be a prime well above the
    /// number of backends (the paper suggests 100×); a composite size still gives valid picks
    /// but some backends may then skip entries. Sizes below 2 are taken as 2.
    pub fn new(table_size: u32) -> Self {
        Maglev { size: u64::from(table_size.max(2)), table: Vec::new(), build: Vec::new() }
    }

    /// How many table entries each backend holds (index by backend; unavailable ones hold 0).
    pub fn entries(&self, backends: usize) -> Vec<u64> {
        let mut counts = vec![0; backends];
        for &b in &self.table {
            if let Some(c) = counts.get_mut(b as usize) {
                *c += 1;
            }
        }
        counts
    }
}

impl Default for Maglev {
    /// 65,537 entries.
    fn default() -> Self {
        Self::new(Self::DEFAULT_TABLE_SIZE)
    }
}

/// The largest backend index a table entry can name.
const NONE: u32 = u32::MAX;

impl Policy for Maglev {
    fn on_backends_changed(&mut self, backends: &[BackendState]) {
        let size = self.size;
        self.build.clear();
        self.build.extend(
            backends
                .iter()
                .enumerate()
                .filter(|(i, b)| b.is_available() && (*i as u64) < u64::from(NONE))
                .map(|(i, b)| Builder {
                    backend: i,
                    weight: u64::from(b.weight),
                    offset: splitmix64(i as u64 ^ OFFSET_SALT) % size,
                    skip: splitmix64(i as u64 ^ SKIP_SALT) % (size - 1) + 1,
                    next: 0,
                    target: 0,
                }),
        );
        self.table.clear();
        if self.build.is_empty() {
            return;
        }
        self.table.resize(size as usize, NONE);
        let max_weight = self.build.iter().map(|b| b.weight).max().unwrap_or(1);
        let mut filled = 0;
        let mut round = 1_u64;
        // A composite size can leave a backend's permutation without free entries; stop
        // offering it turns after it has cycled through the whole table.
        while filled < size {
            let mut progressed = false;
            for entry in &mut self.build {
                if filled == size {
                    break;
                }
                if round * entry.weight < entry.target || entry.next >= size {
                    continue;
                }
                entry.target += max_weight;
                let mut c = (entry.offset + entry.skip * entry.next) % size;
                while self.table[c as usize] != NONE && entry.next < size {
                    entry.next += 1;
                    c = (entry.offset + entry.skip * entry.next) % size;
                }
                if self.table[c as usize] == NONE {
                    self.table[c as usize] = entry.backend as u32;
                    entry.next += 1;
                    filled += 1;
                    progressed = true;
                }
            }
            if !progressed && self.build.iter().all(|e| e.next >= size) {
                // Only with a composite size: fill what is left in order.
                let mut owners = self.build.iter().map(|e| e.backend as u32).cycle();
                for slot in self.table.iter_mut().filter(|s| **s == NONE) {
                    *slot = owners.next().unwrap_or(NONE);
                }
                break;
            }
            round += 1;
        }
    }

    fn pick(&mut self, backends: &[BackendState], request: &RequestInfo, _: &mut SimRng) -> Option<usize> {
        if self.table.is_empty() {
            return None;
        }
        let chosen = self.table[(key_hash(request.key) % self.size) as usize] as usize;
        (chosen < backends.len()).then_some(chosen)
    }
}

/// `Maglev(table_size: 65537)` in an experiment file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaglevSpec {
    /// Lookup-table entries, a prime between 2 and 5,000,011. Default: 65537.
    #[serde(default = "default_table_size")]
    pub table_size: u32,
}

fn default_table_size() -> u32 {
    Maglev::DEFAULT_TABLE_SIZE
}

/// Whether `n` is prime (trial division; `n` ≤ 2³², so at most 65,536 divisions).
fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    let n = u64::from(n);
    (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
}

impl Default for MaglevSpec {
    /// 65,537 entries.
    fn default() -> Self {
        MaglevSpec { table_size: default_table_size() }
    }
}

impl Params for MaglevSpec {
    fn check(&self, context: &Context) -> Vec<Problem> {
        let (table_size, max) = (self.table_size, Maglev::MAX_TABLE_SIZE);
        if !(2..=max).contains(&table_size) || !is_prime(table_size) {
            vec![
                Problem::error(format!(
                    "table_size must be a prime between 2 and {max} (Envoy's limit), like 65537 or 5003, not {table_size}"
                ))
                .at("table_size"),
            ]
        } else if u64::from(table_size) < 100 * context.backends {
            let backends = context.backends;
            vec![
                Problem::warning(format!(
                    "a table of {table_size} entries for {backends} backends gives uneven shares; Maglev wants at least 100 entries per backend, like 65537"
                ))
                .at("table_size"),
            ]
        } else {
            Vec::new()
        }
    }

    fn build(&self) -> Box<dyn Policy> {
        Box::new(Maglev::new(self.table_size))
    }
}

impl Entry for MaglevSpec {
    const INFO: &'static Info = &Info {
        name: "Maglev",
        synopsis: "Maglev(table_size: 65537)",
        summary: "Maglev lookup table on the request key: even shares, minimal disruption",
        source: "Maglev (Eisenbud et al. 2016), Envoy MAGLEV weighted table (1:2 -> 21846/43691)",
        params: &[Param {
            name: "table_size",
            ty: "u32",
            default: Some("65537"),
            doc: "lookup-table entries, a prime between 2 and 5000011 (Envoy's limit), at least 100 per backend",
        }],
        routes_on_keys: true,
        splits_by_weight: true,
    };

    fn examples() -> Vec<Self> {
        vec![MaglevSpec::default(), MaglevSpec { table_size: 251 }]
    }

    fn written(&self) -> Vec<String> {
        written_unless_default("table_size", self.table_size, default_table_size()).into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::catalog::Severity;
    use crate::policy::tests::states;

    #[test]
    fn weights_1_2_fill_21846_and_43691_of_65537() {
        let backends = states(&[1, 2]);
        let mut maglev = Maglev::default();
        maglev.on_backends_changed(&backends);
        assert_eq!(maglev.entries(2), [21_846, 43_691]);
    }

    #[test]
    fn equal_weights_share_the_table_evenly() {
        let mut maglev = Maglev::new(65_537);
        maglev.on_backends_changed(&states(&[1; 7]));
        let entries = maglev.entries(7);
        assert!(entries.iter().all(|&e| e == 9362 || e == 9363), "{entries:?}");
        assert_eq!(entries.iter().sum::<u64>(), 65_537);
    }

    #[test]
    fn a_leaving_backend_disrupts_few_other_entries() {
        let mut backends = states(&[1; 20]);
        let mut maglev = Maglev::new(65_537);
        maglev.on_backends_changed(&backends);
        let before = maglev.table.clone();
        backends[7].eligible = false;
        maglev.on_backends_changed(&backends);
        let moved_others = before.iter().zip(&maglev.table).filter(|(b, a)| b != a && **b != 7).count();
        assert!(maglev.table.iter().all(|&b| b != 7));
        // The paper's Figure 9: a few percent of the table at 1% of backends removed.
        assert!(moved_others < 65_537 * 6 / 100, "{moved_others}");
    }

    #[test]
    fn composite_sizes_still_fill_the_table() {
        let mut maglev = Maglev::new(12);
        maglev.on_backends_changed(&states(&[1, 1, 1, 1, 1, 1]));
        assert!(maglev.table.iter().all(|&b| b != NONE));
    }

    #[test]
    fn table_sizes_must_be_primes_within_envoys_limit() {
        assert!(is_prime(65_537) && is_prime(5_000_011) && !is_prime(65_536) && !is_prime(1));
        let errors = |table_size| MaglevSpec { table_size }.check(&Context::new(2));
        assert!(errors(65_537).is_empty());
        assert_eq!(errors(65_536)[0].param, Some("table_size"));
        assert!(errors(65_536)[0].message.contains("must be a prime"));
        assert_eq!(errors(5_000_023)[0].severity, Severity::Error);
        let small = MaglevSpec { table_size: 251 }.check(&Context::new(4));
        assert_eq!(small[0].severity, Severity::Warning, "{small:?}");
    }
}
