//! The replica as the stand-in's game: its start-up in the real order
//! around NVSE's passes, its frames, and the checks of whose blocks are
//! whose (`nvse-host: replica: <check> key=value ...`, then `nvse-host:
//! replica: ok` or `FAILED ...`).

mod blocks;
mod changes;
mod checks;
mod churn;
mod game;
mod parked;
mod session;
mod state;

use nvse_host::checks::{seed_of, Checks};
use nvse_host::session::GameModel;

use crate::heap_sizes;
use crate::options::{Moment, Options, SessionRun};
use blocks::{Block, Owner};
use churn::Churn;
use game::{Calls, Entry, Release};
use parked::Parked;
use state::State;

pub struct Replica {
    options: Options,
    entries: Vec<Entry>,
    calls: Calls,
    release: Release,
    /// The state right after the start-up, and after the old blocks.
    started: Option<State>,
    /// Blocks the runtime's own start-up keeps.
    runtime_startup: Vec<*mut u8>,
    /// Blocks made before the plugin loaded (Load).
    old: Vec<Block>,
    churn: Option<Churn>,
    parked: Vec<Parked>,
    /// Blocks the parked calls were given.
    parked_blocks: Vec<Block>,
    /// Threads that were to be parked.
    parked_wanted: usize,
    fates: Vec<parked::Fate>,
    /// Lines of changes made before the plugins, and whether they all were.
    changes: Vec<String>,
    changes_made: bool,
    /// The process's own private bytes before the game's start-up.
    process_before: u64,
    /// The Default and File heaps' sizes in force (MB).
    heap_mb: (u32, u32),
}

impl Replica {
    pub fn new(options: Options) -> Replica {
        let entries = game::entries();
        let release = Release::of(&entries);
        let calls = Calls {
            three_argument_realloc: options.changes.realloc_three_arguments.then_some(changes::SECOND_REALLOC),
        };
        Replica {
            options,
            entries,
            calls,
            release,
            started: None,
            runtime_startup: Vec::new(),
            old: Vec::new(),
            churn: None,
            parked: Vec::new(),
            parked_blocks: Vec::new(),
            parked_wanted: 0,
            fates: Vec::new(),
            changes: Vec::new(),
            changes_made: true,
            process_before: 0,
            heap_mb: (heap_sizes::DEFAULT.vanilla_mb, heap_sizes::FILE.vanilla_mb),
        }
    }

    /// The session instead of the checks' blocks and frames: the start-up
    /// checked, then the session through the game heap, its record printed.
    fn check_session(&mut self, run: SessionRun, checks: &mut Checks, context: &checks::Context) {
        let owner = session::game_heap_owner(&context.owner);
        let started = self.started.expect("the start-up ran");
        let before = session::Before {
            process: self.process_before,
            vanilla_reserved: started.reserved as u64,
            default_heap_mb: self.heap_mb.0,
            file_heap_mb: self.heap_mb.1,
            plugin_at: match (context.owner.plugin(), self.options.moment) {
                (false, _) => "none",
                (true, Moment::Preload) => "preload",
                (true, Moment::Load) => "load",
            },
        };
        let record = session::run(run, &before, owner);
        println!("{}", record.to_json());
        checks::session(checks, context, &record);
    }

    /// The C runtime's own start-up allocations (`__mtinit`, `__ioinit`):
    /// its per-thread data and its files' table, from its *_crt wrappers.
    fn runtime_startup_blocks(&mut self) {
        let wrappers = [(game::CALLOC_CRT, 0x214), (game::CALLOC_CRT, 32 * 0x40), (game::MALLOC_CRT, 0x100)];
        for (address, size) in wrappers {
            let entry = self.entries.iter().copied().find(|e| e.address == address).expect("a *_crt wrapper");
            // SAFETY: __heap_init ran; the blocks are kept for good.
            self.runtime_startup.push(unsafe { self.calls.allocate(entry, size) });
        }
    }

    /// Blocks through every allocating entry before the plugin loads.
    fn make_old_blocks(&mut self) {
        let allocating = self.allocating();
        for index in 0..600 {
            let entry = allocating[index % allocating.len()];
            let size = if index % 50 == 49 { 20_000 + index } else { 1 + index * 37 % 1500 };
            // SAFETY: the start-up ran.
            if let Some((block, _)) = unsafe { blocks::make(&self.calls, entry, size, seed_of(index, size)) } {
                self.old.push(block);
            }
        }
    }

    fn allocating(&self) -> Vec<Entry> {
        self.entries.iter().filter(|e| e.allocates()).copied().collect()
    }

    /// A thread parked at each instruction the jumps replace, in every
    /// hooked function, each with its own old block.
    fn park_threads(&mut self) {
        let allocating = self.allocating();
        for entry in self.entries.clone() {
            for offset in parked::offsets(entry) {
                self.parked_wanted += 1;
                let family = entry.family();
                let maker = *allocating.iter().find(|e| e.family() == family).expect("an allocating entry");
                // SAFETY: the start-up ran.
                let Some((block, _)) = (unsafe { blocks::make(&self.calls, maker, 200, 77) }) else { continue };
                match parked::park(parked::call_of(entry, block.p, 300), offset) {
                    Ok(thread) => {
                        self.parked.push(thread);
                        self.parked_blocks.push(block);
                    }
                    Err(why) => println!("nvse-host: replica: cannot park at 0x{:08X}+{offset}: {why}", entry.address),
                }
            }
        }
    }
}

impl GameModel for Replica {
    fn before_plugins(&mut self) -> bool {
        let wanted = self.options.changes;
        let changes = [
            (wanted.other_free, changes::other_free as fn() -> Result<String, String>),
            (wanted.other_identity, changes::other_identity),
            (wanted.realloc_three_arguments, changes::realloc_three_arguments),
        ];
        for (_, change) in changes.into_iter().filter(|(wanted, _)| *wanted) {
            match change() {
                Ok(line) => self.changes.push(line),
                Err(why) => {
                    self.changes.push(format!("FAILED {why}"));
                    self.changes_made = false;
                }
            }
        }
        for line in &self.changes {
            println!("nvse-host: replica: change {line}");
        }
        match changes::heap_sizes(self.options.heap_sizes) {
            Ok((lines, default_mb, file_mb)) => {
                for line in lines {
                    println!("nvse-host: xNVSE: {line}");
                }
                self.heap_mb = (default_mb, file_mb);
            }
            Err(why) => {
                println!("nvse-host: replica: change FAILED heap sizes: {why}");
                self.changes_made = false;
            }
        }
        self.process_before = session::walk().reserved;
        self.changes_made
    }

    fn preload_pass(&self) -> bool {
        self.options.moment == Moment::Preload
    }

    fn start(&mut self) {
        // SAFETY: the start-up, once, on the main thread, before the threads.
        let heap = unsafe { game::runtime_start_up() };
        self.runtime_startup_blocks();
        // SAFETY: __cinit's initialiser, after the runtime's heap.
        unsafe { game::construct_memory_manager() };
        state::enter_game();
        self.started = Some(State::now());
        if self.options.moment == Moment::Load && self.options.session.is_none() {
            self.make_old_blocks();
        }
        if self.options.threads > 0 {
            self.churn = Some(Churn::start(self.options.threads, self.calls, &self.entries, self.release));
        }
        if self.options.parked {
            self.park_threads();
        }
        let state = State::now();
        println!(
            "nvse-host: replica: start-up crt_heap={} heaps={} pools={} reserved_mib={} old_blocks={} threads={} parked={}",
            u8::from(heap && state.crt_heap),
            state.heaps_created,
            state.pools_created,
            state.reserved >> 20,
            self.old.len(),
            self.options.threads,
            self.parked.len()
        );
    }

    fn after_load(&mut self) {
        self.fates = self.parked.drain(..).map(Parked::finish).collect();
    }

    fn frame(&mut self) {
        // SAFETY: after the start-up, on the main thread.
        unsafe { game::main_loop() };
    }

    fn check(&mut self) -> bool {
        let mut checks = Checks::new("replica");
        let owner = Owner::find();
        let expect = self.options.expect;
        let heaps_reserved =
            i64::from(heap_sizes::Heap::bytes(self.heap_mb.0) + heap_sizes::Heap::bytes(self.heap_mb.1));
        let context = checks::Context {
            expect,
            moment: self.options.moment,
            owner,
            calls: self.calls,
            release: self.release,
            heaps_reserved,
        };
        let started = self.started.expect("the start-up ran");
        checks::start_up(&mut checks, &context, &started, &self.runtime_startup, &state::startup_blocks());
        if let Some(run) = self.options.session {
            self.check_session(run, &mut checks, &context);
            return checks.verdict();
        }
        checks::parked(&mut checks, &context, self.parked_wanted, &self.fates, &mut self.parked_blocks);
        if let Some(churn) = self.churn.take() {
            checks::threads(&mut checks, churn.stop());
        }
        if self.options.moment == Moment::Load {
            checks::old_blocks(&mut checks, &context, std::mem::take(&mut self.old), &started);
        }
        checks::new_blocks(&mut checks, &context, &self.entries);
        checks::maintenance(&mut checks, &context);
        if let Some(other) = self.options.changes.other_free.then(changes::other_free_calls) {
            // The other mod's Free freed the game's blocks all along.
            checks.line("other mod", &[nvse_host::checks::size_fact("free_calls", other as usize, 1, false)]);
        }
        checks.verdict()
    }
}
