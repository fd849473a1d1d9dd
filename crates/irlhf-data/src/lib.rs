#![doc = include_str!("../README.md")]

pub mod column_map;
pub mod csv_reader;
pub mod error;
pub mod filter;
pub mod jsonl;
pub mod jsonl_writer;
pub mod parquet_reader;
pub mod reader;
pub mod record;
pub mod split;

pub use column_map::ColumnMap;
pub use csv_reader::CsvPrompts;
pub use error::{DataError, Location, Result};
pub use filter::{
    Comparison, FilterStats, Filtered, MetadataThreshold, NoTokenCounter, PromptFilter,
};
pub use jsonl::JsonlPrompts;
pub use jsonl_writer::{read_jsonl, JsonlAppender, JsonlReader, Recovery};
pub use parquet_reader::ParquetPrompts;
pub use reader::{open_prompts, read_prompts, Format, PromptReader};
pub use record::PromptRecord;
pub use split::{Partition, Side, TrainEvalSplit};
