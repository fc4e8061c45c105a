//! The guest's log lines: `LEVEL [sync_id=…] [item_id=…] message` on
//! stdout, which the host turns into its own log records (fields included,
//! in `--log-format json`). The context is the sync or work item the
//! instance is busy with: one instance does one thing at a time.

use std::cell::RefCell;

thread_local! {
    static CONTEXT: RefCell<Context> = const { RefCell::new(Context { sync_id: None, item_id: None }) };
}

struct Context {
    sync_id: Option<String>,
    item_id: Option<String>,
}

/// Runs `work` with its lines carrying `sync_id`.
pub fn in_sync<R>(sync_id: &str, work: impl FnOnce() -> R) -> R {
    let previous = CONTEXT.with(|c| c.borrow_mut().sync_id.replace(sync_id.to_string()));
    let result = work();
    CONTEXT.with(|c| c.borrow_mut().sync_id = previous);
    result
}

/// Runs `work` with its lines carrying `item_id`.
pub fn for_item<R>(item_id: &str, work: impl FnOnce() -> R) -> R {
    let previous = CONTEXT.with(|c| c.borrow_mut().item_id.replace(item_id.to_string()));
    let result = work();
    CONTEXT.with(|c| c.borrow_mut().item_id = previous);
    result
}

/// `sync_id=… item_id=… ` for what is set; ids are Plane's and the
/// service's own, already checked to be plain.
pub fn prefix() -> String {
    CONTEXT.with(|c| {
        let c = c.borrow();
        let mut out = String::new();
        if let Some(id) = &c.sync_id {
            out.push_str(&format!("sync_id={id} "));
        }
        if let Some(id) = &c.item_id {
            out.push_str(&format!("item_id={id} "));
        }
        out
    })
}

/// `log!("INFO", "…", args)`: one line at that level, with the context.
#[macro_export]
macro_rules! log {
    ($level:literal, $($arg:tt)*) => {
        println!("{} {}{}", $level, $crate::log::prefix(), format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_nests_and_ends_with_its_work() {
        assert_eq!(prefix(), "");
        in_sync("s-1", || {
            for_item("i-9", || assert_eq!(prefix(), "sync_id=s-1 item_id=i-9 "));
            assert_eq!(prefix(), "sync_id=s-1 ");
        });
        assert_eq!(prefix(), "");
    }
}
