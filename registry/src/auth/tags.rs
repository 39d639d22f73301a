//! Tag rules (spec/auth.md §3.1): tags that are set once and never moved or deleted, and
//! tags that only some users may create, move or delete. Access rules are per
//! repository; these protect a release tag from a colleague who may push to the same
//! repository.

use std::collections::BTreeSet;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

/// One `[[auth.tag_rules]]` entry.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TagRuleConfig {
    /// Glob patterns over repository names (as in `[[auth.rules]]`).
    pub repositories: Vec<String>,
    /// Glob patterns over tags (`*` any run of characters, `?` one).
    pub tags: Vec<String>,
    /// A matching tag is set once: never moved to another manifest, never deleted.
    pub immutable: bool,
    /// Only these users may create, move or delete a matching tag.
    pub users: Vec<String>,
    /// ... and the members of these groups.
    pub groups: Vec<String>,
}

struct Rule {
    repos: GlobSet,
    tags: GlobSet,
    immutable: bool,
    /// `None`: anyone with `push` (or `delete`) on the repository.
    movers: Option<BTreeSet<String>>,
}

/// Why a tag change is refused: the rule (1-based, in file order) and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRefusal {
    /// The rule's number.
    pub rule: usize,
    /// `immutable` or `restricted`.
    pub reason: &'static str,
    /// A sentence for the error message.
    pub message: String,
}

/// The compiled tag rules.
#[derive(Default)]
pub struct TagRules {
    rules: Vec<Rule>,
}

fn globs(patterns: &[String], what: &str, n: usize) -> Result<GlobSet, String> {
    if patterns.is_empty() {
        return Err(format!("auth tag rule {n}: no {what}"));
    }
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        if p.is_empty() || p.len() > 255 {
            return Err(format!(
                "auth tag rule {n}: {what} pattern {p:?}: empty or too long"
            ));
        }
        let g = GlobBuilder::new(p)
            .literal_separator(true)
            .build()
            .map_err(|e| format!("auth tag rule {n}: {what} pattern {p:?}: {e}"))?;
        b.add(g);
    }
    b.build().map_err(|e| format!("auth tag rule {n}: {e}"))
}

impl TagRules {
    /// Compiles `[[auth.tag_rules]]`, resolving groups; a rule must say `immutable = true`
    /// or name who may move its tags.
    pub fn new(
        cfg: &[TagRuleConfig],
        groups: &std::collections::BTreeMap<String, Vec<String>>,
    ) -> Result<TagRules, String> {
        let mut rules = Vec::new();
        for (i, r) in cfg.iter().enumerate() {
            let n = i + 1;
            let repos = globs(&r.repositories, "repositories", n)?;
            let tags = globs(&r.tags, "tags", n)?;
            let mut movers: BTreeSet<String> = r.users.iter().cloned().collect();
            for g in &r.groups {
                let members = groups
                    .get(g)
                    .ok_or_else(|| format!("auth tag rule {n}: unknown group {g:?}"))?;
                movers.extend(members.iter().cloned());
            }
            let restricted = !r.users.is_empty() || !r.groups.is_empty();
            if !r.immutable && !restricted {
                return Err(format!(
                    "auth tag rule {n}: protects nothing (set immutable = true, or users or groups)"
                ));
            }
            rules.push(Rule {
                repos,
                tags,
                immutable: r.immutable,
                movers: restricted.then_some(movers),
            });
        }
        Ok(TagRules { rules })
    }

    fn matching(&self, repo: &str, tag: &str) -> impl Iterator<Item = (usize, &Rule)> {
        self.rules
            .iter()
            .enumerate()
            .filter(move |(_, r)| r.repos.is_match(repo) && r.tags.is_match(tag))
            .map(|(i, r)| (i + 1, r))
    }

    /// The first rule that makes `repo:tag` immutable.
    pub fn immutable(&self, repo: &str, tag: &str) -> Option<TagRefusal> {
        self.matching(repo, tag)
            .find(|(_, r)| r.immutable)
            .map(|(rule, _)| TagRefusal {
                rule,
                reason: "immutable",
                message: format!(
                    "tag {tag} of {repo} is immutable (auth.tag_rules rule {rule}): it was set \
                     once and cannot be moved or deleted; push under a new tag"
                ),
            })
    }

    /// Whether `user` (`None`: an anonymous or token caller without a subject) may create,
    /// move or delete `repo:tag`; `enforce_users` is false in auth mode `none` (no users).
    pub fn may_change(
        &self,
        user: Option<&str>,
        enforce_users: bool,
        repo: &str,
        tag: &str,
    ) -> Result<(), TagRefusal> {
        if !enforce_users {
            return Ok(());
        }
        for (rule, r) in self.matching(repo, tag) {
            if let Some(movers) = &r.movers
                && !user.is_some_and(|u| movers.contains(u))
            {
                return Err(TagRefusal {
                    rule,
                    reason: "restricted",
                    message: format!(
                        "{} may not create, move or delete tag {tag} of {repo} \
                         (auth.tag_rules rule {rule} names who may)",
                        user.unwrap_or("anonymous")
                    ),
                });
            }
        }
        Ok(())
    }

    /// Whether any rule exists (the common case is none: no work per push).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(repos: &[&str], tags: &[&str], immutable: bool, users: &[&str]) -> TagRuleConfig {
        let v = |x: &[&str]| x.iter().map(|s| (*s).to_owned()).collect();
        TagRuleConfig {
            repositories: v(repos),
            tags: v(tags),
            immutable,
            users: v(users),
            groups: Vec::new(),
        }
    }

    #[test]
    fn rules() {
        let t = TagRules::new(
            &[
                rule(&["models/**"], &["v*"], true, &[]),
                rule(&["models/**"], &["latest"], false, &["bot"]),
            ],
            &Default::default(),
        )
        .unwrap();
        assert_eq!(t.immutable("models/a", "v1.0").unwrap().rule, 1);
        assert!(t.immutable("models/a", "latest").is_none());
        assert!(t.immutable("other/a", "v1").is_none());
        assert!(
            t.may_change(Some("bot"), true, "models/a", "latest")
                .is_ok()
        );
        let e = t
            .may_change(Some("eve"), true, "models/a", "latest")
            .unwrap_err();
        assert_eq!((e.rule, e.reason), (2, "restricted"));
        assert!(t.may_change(None, true, "models/a", "latest").is_err());
        assert!(
            t.may_change(Some("eve"), false, "models/a", "latest")
                .is_ok()
        );
        assert!(t.may_change(Some("eve"), true, "models/a", "dev").is_ok());
        assert!(TagRules::new(&[rule(&["a"], &["b"], false, &[])], &Default::default()).is_err());
        assert!(TagRules::new(&[rule(&["a"], &[], true, &[])], &Default::default()).is_err());
    }
}
