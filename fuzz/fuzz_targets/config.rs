//! `MemoryPoolNVSE.ini` parser on arbitrary bytes: it never panics, every
//! problem names a line of the file, and the settings are always complete and
//! in range.
#![no_main]

use config::keys::{Kind, Value, KEYS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed = config::parse(data);
    // Lines as the parser counts them: `\r\n`, `\n` or `\r` end one.
    let lines = 1 + data.len();
    for problem in &parsed.problems {
        assert!((1..=lines).contains(&problem.line), "{problem}");
        assert!(!problem.message.is_empty());
    }
    for key in KEYS {
        match (key.kind, key.get(&parsed.settings)) {
            (Kind::Number { min, max }, Value::Number(n)) => assert!((min..=max).contains(&n), "{key:?} = {n}"),
            (Kind::Choice(names), Value::Choice(name)) => assert!(names.contains(&name)),
            (Kind::Switch, Value::Switch(_)) => {}
            (Kind::Modules, Value::Modules(names)) => {
                assert!(names.iter().all(|n| !n.is_empty() && !n.contains(['\\', '/', ':'])))
            }
            (Kind::Path, Value::Path(path)) => {
                assert!(!path.starts_with(['\\', '/']) && !path.contains(':'), "{path}");
                assert!(path.split(['\\', '/']).all(|part| part != ".."), "{path}");
            }
            (kind, value) => panic!("{key:?}: {kind:?} holds {value:?}"),
        }
    }
    assert_eq!(config::describe(&parsed.settings).len(), config::keys::sections().count());
});
