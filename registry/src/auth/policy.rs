//! The access policy (spec/auth.md §3): rules of repository globs × principals → actions.

use std::collections::{BTreeMap, BTreeSet};

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

use super::{Action, Actions, AuthConfig};

struct Rule {
    repos: GlobSet,
    users: BTreeSet<String>,
    any_user: bool,
    anonymous: bool,
    actions: Actions,
}

/// Compiled rules.
pub struct Policy {
    rules: Vec<Rule>,
}

fn glob(pattern: &str) -> Result<Glob, String> {
    if pattern.is_empty() || pattern.len() > 255 {
        return Err(format!("repository pattern {pattern:?}: empty or too long"));
    }
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| format!("repository pattern {pattern:?}: {e}"))
}

impl Policy {
    /// Compiles `cfg.rules`, resolving groups; refuses unknown groups, empty rules and
    /// anonymous rules that grant more than `pull`.
    pub fn new(cfg: &AuthConfig) -> Result<Policy, String> {
        let groups: &BTreeMap<String, Vec<String>> = &cfg.groups;
        let mut rules = Vec::new();
        for (i, r) in cfg.rules.iter().enumerate() {
            let n = i + 1;
            if r.repositories.is_empty() {
                return Err(format!("auth rule {n}: no repositories"));
            }
            if r.actions.is_empty() {
                return Err(format!("auth rule {n}: no actions"));
            }
            if r.users.is_empty() && r.groups.is_empty() && !r.anonymous {
                return Err(format!(
                    "auth rule {n}: applies to nobody (give users, groups or anonymous = true)"
                ));
            }
            if r.anonymous && r.actions.iter().any(|a| *a != Action::Pull) {
                return Err(format!(
                    "auth rule {n}: anonymous rules may grant pull only"
                ));
            }
            let mut b = GlobSetBuilder::new();
            for p in &r.repositories {
                b.add(glob(p).map_err(|e| format!("auth rule {n}: {e}"))?);
            }
            let repos = b.build().map_err(|e| format!("auth rule {n}: {e}"))?;
            let mut users: BTreeSet<String> =
                r.users.iter().filter(|u| *u != "*").cloned().collect();
            for g in &r.groups {
                let members = groups
                    .get(g)
                    .ok_or_else(|| format!("auth rule {n}: unknown group {g:?}"))?;
                users.extend(members.iter().cloned());
            }
            rules.push(Rule {
                repos,
                users,
                any_user: r.users.iter().any(|u| u == "*"),
                anonymous: r.anonymous,
                actions: r.actions.iter().copied().collect(),
            });
        }
        Ok(Policy { rules })
    }

    /// The actions `user` (`None`: anonymous) has on `repo`: the union over the rules that
    /// apply; nothing when none does.
    pub fn allowed(&self, user: Option<&str>, repo: &str) -> Actions {
        let mut acts = Actions::NONE;
        for r in &self.rules {
            let applies = r.anonymous
                || match user {
                    Some(u) => r.any_user || r.users.contains(u),
                    None => false,
                };
            if applies && r.repos.is_match(repo) {
                acts = acts.or(r.actions);
            }
        }
        acts
    }

    /// Whether some rule lets anonymous callers pull somewhere.
    pub fn any_anonymous(&self) -> bool {
        self.rules.iter().any(|r| r.anonymous)
    }
}
