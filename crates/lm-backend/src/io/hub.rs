//! Models named by a Hugging Face Hub id, `org/name[@revision]`, resolved **offline** from the
//! local Hugging Face cache as `transformers` does with `HF_HUB_OFFLINE=1`: nothing is
//! downloaded.
//!
//! The cache layout (huggingface_hub's, <https://huggingface.co/docs/hub/local-cache>):
//! `<cache>/models--org--name/refs/<branch or tag>` holds a commit hash, and
//! `<cache>/models--org--name/snapshots/<commit>/` the files of that commit. The cache is
//! `$HF_HUB_CACHE`, else `$HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`, else
//! `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`.
//!
//! (The `hf-hub` crate's `Cache` reads the same layout but answers `None` without a reason,
//! takes no commit hash as revision and reads only `HF_HOME`; the layout is small enough to
//! read here with errors that say what was looked at.)

use std::path::{Path, PathBuf};

use crate::error::{LmError, Result};

/// The local Hugging Face cache directory the environment names.
pub fn hub_cache_dir() -> PathBuf {
    cache_dir_from(|name| std::env::var_os(name).map(PathBuf::from))
}

/// [`hub_cache_dir`] over any source of variables (empty values count as unset).
fn cache_dir_from(var: impl Fn(&str) -> Option<PathBuf>) -> PathBuf {
    let var = |name: &str| var(name).filter(|v| !v.as_os_str().is_empty());
    if let Some(dir) = var("HF_HUB_CACHE").or_else(|| var("HUGGINGFACE_HUB_CACHE")) {
        return dir;
    }
    if let Some(home) = var("HF_HOME") {
        return home.join("hub");
    }
    let cache = var("XDG_CACHE_HOME")
        .or_else(|| var("HOME").map(|h| h.join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("huggingface").join("hub")
}

/// A Hub model id with its revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubId {
    /// `org/name`.
    pub repo: String,
    /// A branch, tag or commit hash (default `main`).
    pub revision: String,
}

impl HubId {
    /// Parses `org/name` or `org/name@revision`; `None` for anything else (a path).
    pub fn parse(spec: &str) -> Option<Self> {
        let (repo, revision) = match spec.split_once('@') {
            Some((repo, rev)) if !rev.is_empty() => (repo, rev),
            Some(_) => return None,
            None => (spec, "main"),
        };
        let (org, name) = repo.split_once('/')?;
        let part = |p: &str| {
            !p.is_empty()
                && !p.starts_with('.')
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        (part(org) && part(name)).then(|| HubId {
            repo: repo.to_owned(),
            revision: revision.to_owned(),
        })
    }

    /// The repository's folder in `cache`.
    pub fn folder(&self, cache: &Path) -> PathBuf {
        cache.join(format!("models--{}", self.repo.replace('/', "--")))
    }
}

/// A model directory: `spec` itself when it is a directory, else the snapshot of the Hub id
/// `spec` in the cache [`hub_cache_dir`] names.
///
/// # Errors
/// [`LmError::NotInHubCache`] naming the paths looked at, or [`LmError::Io`] when `spec` is
/// neither a directory nor a Hub id.
pub fn resolve_model(spec: &str) -> Result<PathBuf> {
    resolve_model_in(spec, &hub_cache_dir())
}

/// [`resolve_model`] with an explicit cache directory.
///
/// # Errors
/// As [`resolve_model`].
pub fn resolve_model_in(spec: &str, cache: &Path) -> Result<PathBuf> {
    let path = Path::new(spec);
    if path.is_dir() {
        return Ok(path.to_path_buf());
    }
    let Some(id) = HubId::parse(spec) else {
        return Err(LmError::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "not a model directory, nor a Hub id org/name[@revision]",
            ),
        ));
    };
    let folder = id.folder(cache);
    let not_cached = |reason: String, looked: Vec<PathBuf>| LmError::NotInHubCache {
        spec: spec.to_owned(),
        detail: format!(
            "{}@{}: {reason} (looked at {looked:?})",
            id.repo, id.revision
        ),
        fetch: format!(
            "huggingface-cli download {} --revision {}",
            id.repo, id.revision
        ),
    };
    if !folder.is_dir() {
        return Err(not_cached(
            "the repository is not cached".into(),
            vec![folder],
        ));
    }
    let reference = folder.join("refs").join(&id.revision);
    let commit = match std::fs::read_to_string(&reference) {
        Ok(text) => text.trim().to_owned(),
        // A commit hash is a revision too.
        Err(_) => id.revision.clone(),
    };
    let snapshot = folder.join("snapshots").join(&commit);
    if snapshot.is_dir() {
        return Ok(snapshot);
    }
    let cached: Vec<String> = std::fs::read_dir(folder.join("refs"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    Err(not_cached(
        format!(
            "no snapshot for revision '{}' (cached refs: {cached:?})",
            id.revision
        ),
        vec![reference, snapshot],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_cache(dir: &Path, repo: &str, refs: &[(&str, &str)], commits: &[&str]) -> PathBuf {
        let folder = dir.join(format!("models--{}", repo.replace('/', "--")));
        for commit in commits {
            let snap = folder.join("snapshots").join(commit);
            std::fs::create_dir_all(&snap).expect("snapshot");
            std::fs::write(snap.join("config.json"), "{}").expect("file");
        }
        std::fs::create_dir_all(folder.join("refs")).expect("refs");
        for (name, commit) in refs {
            std::fs::write(folder.join("refs").join(name), commit).expect("ref");
        }
        folder
    }

    #[test]
    fn ids_parse_and_paths_do_not() {
        let id = HubId::parse("EleutherAI/pythia-70m@step3000").expect("an id");
        assert_eq!(
            (id.repo.as_str(), id.revision.as_str()),
            ("EleutherAI/pythia-70m", "step3000")
        );
        assert_eq!(
            HubId::parse("org/name").map(|i| i.revision),
            Some("main".into())
        );
        for path in [
            "/abs/dir",
            "./rel",
            "a/b/c",
            "name",
            "org/",
            "org/name@",
            "../x/y",
        ] {
            assert_eq!(HubId::parse(path), None, "{path}");
        }
    }

    #[test]
    fn a_branch_a_tag_and_a_commit_resolve_to_their_snapshot() -> Result<()> {
        let tmp = tempfile::tempdir().map_err(|e| LmError::io("tmp", e))?;
        let folder = fake_cache(
            tmp.path(),
            "org/model",
            &[("main", "abc\n"), ("v1", "def")],
            &["abc", "def"],
        );
        let snap = |c: &str| folder.join("snapshots").join(c);
        assert_eq!(resolve_model_in("org/model", tmp.path())?, snap("abc"));
        assert_eq!(resolve_model_in("org/model@v1", tmp.path())?, snap("def"));
        assert_eq!(resolve_model_in("org/model@def", tmp.path())?, snap("def"));
        // A directory is taken as it is.
        let dir = snap("abc");
        assert_eq!(resolve_model_in(&dir.to_string_lossy(), tmp.path())?, dir);
        Ok(())
    }

    #[test]
    fn what_is_not_cached_is_named_with_the_fetch_command() -> Result<()> {
        let tmp = tempfile::tempdir().map_err(|e| LmError::io("tmp", e))?;
        fake_cache(tmp.path(), "org/model", &[("main", "abc")], &["abc"]);
        let err = resolve_model_in("org/other", tmp.path()).expect_err("not cached");
        let msg = err.to_string();
        assert!(msg.contains("models--org--other"), "{msg}");
        assert!(
            msg.contains("huggingface-cli download org/other --revision main"),
            "{msg}"
        );
        let err = resolve_model_in("org/model@nope", tmp.path()).expect_err("no such revision");
        assert!(matches!(err, LmError::NotInHubCache { .. }));
        assert!(err.to_string().contains("cached refs: [\"main\"]"), "{err}");
        let err = resolve_model_in("no/such/dir", tmp.path()).expect_err("neither");
        assert!(matches!(err, LmError::Io { .. }), "{err}");
        Ok(())
    }

    #[test]
    fn the_cache_follows_huggingface_hub_s_order() {
        let env = |set: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                set.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| PathBuf::from(v))
            }
        };
        let all = [
            ("HF_HUB_CACHE", "/a"),
            ("HUGGINGFACE_HUB_CACHE", "/b"),
            ("HF_HOME", "/c"),
            ("XDG_CACHE_HOME", "/d"),
            ("HOME", "/e"),
        ];
        let want = [
            "/a",
            "/b",
            "/c/hub",
            "/d/huggingface/hub",
            "/e/.cache/huggingface/hub",
        ];
        for (i, want) in want.iter().enumerate() {
            let set: &'static [(&str, &str)] = Box::leak(all[i..].to_vec().into_boxed_slice());
            assert_eq!(cache_dir_from(env(set)), PathBuf::from(want));
        }
        assert_eq!(
            cache_dir_from(env(&[("HF_HUB_CACHE", ""), ("HF_HOME", "/c")])),
            PathBuf::from("/c/hub"),
            "empty counts as unset"
        );
    }
}
