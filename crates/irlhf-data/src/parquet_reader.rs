//! Prompts from Parquet, the format Hugging Face datasets download as (snappy-compressed by
//! pyarrow's default; zstd, polars' default, is read too).
//!
//! Reading streams: one row group at a time, in Arrow record batches of
//! [`batch_size`](ParquetPrompts::with_batch_size) rows, and only the leaf columns the
//! [`ColumnMap`] names are decoded (a projection), so memory is bounded by a batch and the
//! pages of the columns in use, not by the file. Dotted paths descend into struct columns
//! (`prompt.text` in RealToxicityPrompts); a null struct on the way makes the value null.
//!
//! Types: the prompt and continuation must be string columns (`Utf8`, `LargeUtf8`, `Utf8View`, or
//! a dictionary of strings; an all-null continuation column of Arrow type `Null`, as pyarrow
//! writes a column of `None`s, reads as `None`). Metadata columns may be booleans, integers,
//! floats (`Float32` is widened exactly to `f64`; NaN and infinities become null), strings,
//! lists and structs of those (structs become JSON objects), or dictionaries of them.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};
use arrow_array::{Array, LargeStringArray, RecordBatch, StringArray, StringViewArray};
use arrow_schema::{DataType, Fields};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;

use crate::column_map::{path_candidates, ColumnMap};
use crate::error::{DataError, Location, Result};
use crate::record::PromptRecord;

/// Rows per Arrow record batch unless set with [`ParquetPrompts::with_batch_size`].
pub const DEFAULT_BATCH_SIZE: usize = 1024;

/// A column of the map resolved against the Parquet schema.
#[derive(Debug, Clone)]
struct Column {
    /// The dotted path as the column map wrote it.
    key: String,
    /// The field names from the top-level column down to the leaf.
    fields: Vec<String>,
}

/// The row group being read.
struct Cursor {
    index: usize,
    reader: ParquetRecordBatchReader,
    rows_read: usize,
}

/// A streaming reader of [`PromptRecord`]s from a Parquet file.
///
/// The file's columns are checked against the map on [`open`](Self::open) (a missing column is
/// reported there, at [`Location::Schema`]); a column of the wrong type is reported once per row
/// group (that row group is skipped), a null prompt once per row, and decoding errors end the row
/// group. Reading goes on with the next row group after an error.
pub struct ParquetPrompts {
    path: PathBuf,
    file: File,
    metadata: ArrowReaderMetadata,
    mask: ProjectionMask,
    prompt: Column,
    continuation: Option<Column>,
    metadata_fields: Vec<Column>,
    batch_size: usize,
    next_row_group: usize,
    current: Option<Cursor>,
    pending: std::vec::IntoIter<Result<PromptRecord>>,
}

impl std::fmt::Debug for ParquetPrompts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetPrompts")
            .field("path", &self.path)
            .field("prompt", &self.prompt)
            .field("continuation", &self.continuation)
            .field("metadata_fields", &self.metadata_fields)
            .field("batch_size", &self.batch_size)
            .field("next_row_group", &self.next_row_group)
            .finish_non_exhaustive()
    }
}

impl ParquetPrompts {
    /// Opens `path`, reads its footer and resolves the columns of `map` in its schema.
    pub fn open(path: impl AsRef<Path>, map: &ColumnMap) -> Result<Self> {
        map.validate()?;
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| DataError::io(path, e))?;
        let len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
        if len == 0 {
            return Err(DataError::EmptyFile {
                file: path.to_path_buf(),
            });
        }
        let metadata =
            ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).map_err(|source| {
                DataError::Parquet {
                    file: path.to_path_buf(),
                    source,
                }
            })?;
        let schema_fields = metadata.schema().fields().clone();
        let missing = |column: &str| DataError::MissingColumn {
            file: path.to_path_buf(),
            location: Location::Schema,
            column: column.to_owned(),
            available: schema_paths(&schema_fields),
        };
        let resolve = |key: &str| {
            resolve_fields(&schema_fields, key).map(|fields| Column {
                key: key.to_owned(),
                fields,
            })
        };
        let prompt = resolve(&map.prompt_field).ok_or_else(|| missing(&map.prompt_field))?;
        let continuation = match map.continuation() {
            None => None,
            Some(key) => match resolve(key) {
                Some(column) => Some(column),
                None if map.continuation_required() => return Err(missing(key)),
                None => None,
            },
        };
        let metadata_fields = map
            .metadata_fields
            .iter()
            .map(|key| resolve(key).ok_or_else(|| missing(key)))
            .collect::<Result<Vec<_>>>()?;

        let wanted: Vec<&[String]> = std::iter::once(&prompt)
            .chain(&continuation)
            .chain(&metadata_fields)
            .map(|c| c.fields.as_slice())
            .collect();
        let parquet_schema = metadata.parquet_schema();
        let leaves = (0..parquet_schema.num_columns()).filter(|&i| {
            let leaf = parquet_schema.column(i);
            wanted.iter().any(|w| leaf.path().parts().starts_with(w))
        });
        let mask = ProjectionMask::leaves(parquet_schema, leaves);
        Ok(Self {
            path: path.to_path_buf(),
            file,
            metadata,
            mask,
            prompt,
            continuation,
            metadata_fields,
            batch_size: DEFAULT_BATCH_SIZE,
            next_row_group: 0,
            current: None,
            pending: Vec::new().into_iter(),
        })
    }

    /// Rows per Arrow record batch (at least 1): the unit of decoding and of memory.
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// Rows in the file, from its footer.
    pub fn num_rows(&self) -> u64 {
        u64::try_from(self.metadata.metadata().file_metadata().num_rows()).unwrap_or(0)
    }

    /// Row groups in the file.
    pub fn num_row_groups(&self) -> usize {
        self.metadata.metadata().num_row_groups()
    }

    /// Starts reading row group `index`.
    fn open_row_group(&self, index: usize) -> Result<Cursor> {
        let file = self
            .file
            .try_clone()
            .map_err(|e| DataError::io(&self.path, e))?;
        let reader =
            ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.metadata.clone())
                .with_batch_size(self.batch_size)
                .with_row_groups(vec![index])
                .with_projection(self.mask.clone())
                .build()
                .map_err(|source| DataError::Parquet {
                    file: self.path.clone(),
                    source,
                })?;
        Ok(Cursor {
            index,
            reader,
            rows_read: 0,
        })
    }

    /// Converts one batch; `Err` when a whole column is unusable.
    fn convert(
        &self,
        batch: &RecordBatch,
        row_group: usize,
        first_row: usize,
    ) -> Result<Vec<Result<PromptRecord>>> {
        let column_error = |column: &Column, expected, found: &DataType| DataError::WrongType {
            file: self.path.clone(),
            location: Location::RowGroup {
                row_group,
                row: None,
            },
            column: column.key.clone(),
            expected,
            found: found.to_string(),
        };
        let find = |column: &Column| {
            BatchColumn::find(batch, &column.fields).ok_or_else(|| DataError::MissingColumn {
                file: self.path.clone(),
                location: Location::RowGroup {
                    row_group,
                    row: None,
                },
                column: column.key.clone(),
                available: schema_paths(batch.schema().fields()),
            })
        };

        let prompt_col = find(&self.prompt)?;
        let prompt_str = StrColumn::new(prompt_col.leaf).ok_or_else(|| {
            column_error(&self.prompt, "a string column", prompt_col.leaf.data_type())
        })?;
        let continuation = match &self.continuation {
            None => None,
            Some(column) => {
                let found = find(column)?;
                if found.leaf.data_type() == &DataType::Null {
                    None
                } else {
                    let strings = StrColumn::new(found.leaf).ok_or_else(|| {
                        column_error(column, "a string column", found.leaf.data_type())
                    })?;
                    Some((found, strings))
                }
            }
        };
        let mut metadata = Vec::with_capacity(self.metadata_fields.len());
        for column in &self.metadata_fields {
            let found = find(column)?;
            if !json_convertible(found.leaf.data_type()) {
                return Err(column_error(
                    column,
                    "a boolean, number, string, list or struct column",
                    found.leaf.data_type(),
                ));
            }
            metadata.push((column.key.as_str(), found));
        }

        let mut records = Vec::with_capacity(batch.num_rows());
        for i in 0..batch.num_rows() {
            let prompt = match prompt_col.is_null(i) {
                false => prompt_str.get(i),
                true => None,
            };
            let Some(prompt) = prompt else {
                records.push(Err(DataError::WrongType {
                    file: self.path.clone(),
                    location: Location::RowGroup {
                        row_group,
                        row: Some(first_row + i),
                    },
                    column: self.prompt.key.clone(),
                    expected: "a string",
                    found: "null".into(),
                }));
                continue;
            };
            let mut record = PromptRecord::new(prompt);
            if let Some((column, strings)) = &continuation {
                if !column.is_null(i) {
                    record.original_continuation = strings.get(i).map(str::to_owned);
                }
            }
            for (key, column) in &metadata {
                let value = if column.is_null(i) {
                    serde_json::Value::Null
                } else {
                    json_at(column.leaf, i)
                };
                record.metadata.insert((*key).to_owned(), value);
            }
            records.push(Ok(record));
        }
        Ok(records)
    }
}

impl Iterator for ParquetPrompts {
    type Item = Result<PromptRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(record) = self.pending.next() {
                return Some(record);
            }
            let Some(cursor) = self.current.as_mut() else {
                if self.next_row_group >= self.num_row_groups() {
                    return None;
                }
                let index = self.next_row_group;
                self.next_row_group += 1;
                match self.open_row_group(index) {
                    Ok(cursor) => self.current = Some(cursor),
                    Err(e) => return Some(Err(e)),
                }
                continue;
            };
            let (index, first_row) = (cursor.index, cursor.rows_read);
            match cursor.reader.next() {
                None => self.current = None,
                Some(Err(source)) => {
                    self.current = None;
                    return Some(Err(DataError::Arrow {
                        file: self.path.clone(),
                        location: Location::RowGroup {
                            row_group: index,
                            row: None,
                        },
                        source,
                    }));
                }
                Some(Ok(batch)) => {
                    cursor.rows_read += batch.num_rows();
                    match self.convert(&batch, index, first_row) {
                        Ok(records) => self.pending = records.into_iter(),
                        Err(e) => {
                            self.current = None;
                            return Some(Err(e));
                        }
                    }
                }
            }
        }
    }
}

/// Resolves a dotted path to field names, descending into struct fields.
fn resolve_fields(fields: &Fields, path: &str) -> Option<Vec<String>> {
    for (head, tail) in path_candidates(path) {
        let Some((_, field)) = fields.find(head) else {
            continue;
        };
        match (tail, field.data_type()) {
            (None, _) => return Some(vec![head.to_owned()]),
            (Some(tail), DataType::Struct(children)) => {
                if let Some(mut rest) = resolve_fields(children, tail) {
                    rest.insert(0, head.to_owned());
                    return Some(rest);
                }
            }
            (Some(_), _) => {}
        }
    }
    None
}

/// The dotted paths of a schema's fields, structs expanded (for error messages).
fn schema_paths(fields: &Fields) -> Vec<String> {
    fn walk(prefix: &str, fields: &Fields, out: &mut Vec<String>) {
        for field in fields {
            let path = if prefix.is_empty() {
                field.name().clone()
            } else {
                format!("{prefix}.{}", field.name())
            };
            match field.data_type() {
                DataType::Struct(children) if !children.is_empty() => walk(&path, children, out),
                _ => out.push(path),
            }
        }
    }
    let mut out = Vec::new();
    walk("", fields, &mut out);
    out
}

/// A leaf column of a batch with the struct columns above it (whose nulls make it null).
struct BatchColumn<'a> {
    ancestors: Vec<&'a dyn Array>,
    leaf: &'a dyn Array,
}

impl<'a> BatchColumn<'a> {
    fn find(batch: &'a RecordBatch, fields: &[String]) -> Option<Self> {
        let (first, rest) = fields.split_first()?;
        let mut leaf: &dyn Array = batch.column_by_name(first)?.as_ref();
        let mut ancestors = Vec::with_capacity(rest.len());
        for name in rest {
            let child = leaf.as_struct_opt()?.column_by_name(name)?.as_ref();
            ancestors.push(leaf);
            leaf = child;
        }
        Some(Self { ancestors, leaf })
    }

    fn is_null(&self, i: usize) -> bool {
        self.leaf.is_null(i) || self.ancestors.iter().any(|a| a.is_null(i))
    }
}

/// A string column of any of Arrow's string layouts.
enum StrColumn<'a> {
    Utf8(&'a StringArray),
    LargeUtf8(&'a LargeStringArray),
    Utf8View(&'a StringViewArray),
    Dictionary {
        keys: Vec<usize>,
        values: Box<StrColumn<'a>>,
    },
}

impl<'a> StrColumn<'a> {
    fn new(array: &'a dyn Array) -> Option<Self> {
        Some(match array.data_type() {
            DataType::Utf8 => StrColumn::Utf8(array.as_string_opt::<i32>()?),
            DataType::LargeUtf8 => StrColumn::LargeUtf8(array.as_string_opt::<i64>()?),
            DataType::Utf8View => StrColumn::Utf8View(array.as_string_view_opt()?),
            DataType::Dictionary(_, _) => {
                let dict = array.as_any_dictionary_opt()?;
                StrColumn::Dictionary {
                    keys: dict.normalized_keys(),
                    values: Box::new(StrColumn::new(dict.values().as_ref())?),
                }
            }
            _ => return None,
        })
    }

    /// The string at row `i`, `None` when null.
    fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            StrColumn::Utf8(a) => a.is_valid(i).then(|| a.value(i)),
            StrColumn::LargeUtf8(a) => a.is_valid(i).then(|| a.value(i)),
            StrColumn::Utf8View(a) => a.is_valid(i).then(|| a.value(i)),
            StrColumn::Dictionary { keys, values } => values.get(*keys.get(i)?),
        }
    }
}

/// Whether [`json_at`] converts every value of this type.
fn json_convertible(data_type: &DataType) -> bool {
    use DataType as D;
    match data_type {
        D::Null | D::Boolean | D::Utf8 | D::LargeUtf8 | D::Utf8View => true,
        D::Int8 | D::Int16 | D::Int32 | D::Int64 => true,
        D::UInt8 | D::UInt16 | D::UInt32 | D::UInt64 => true,
        D::Float32 | D::Float64 => true,
        D::Struct(fields) => fields.iter().all(|f| json_convertible(f.data_type())),
        D::List(f) | D::LargeList(f) | D::FixedSizeList(f, _) => json_convertible(f.data_type()),
        D::Dictionary(keys, values) => keys.is_integer() && json_convertible(values),
        _ => false,
    }
}

/// The value at row `i` as JSON (the type was checked by [`json_convertible`]).
fn json_at(array: &dyn Array, i: usize) -> serde_json::Value {
    use serde_json::Value;
    if array.is_null(i) {
        return Value::Null;
    }
    fn float(x: f64) -> Value {
        serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
    let list = |values: arrow_array::ArrayRef| {
        Value::Array((0..values.len()).map(|j| json_at(&values, j)).collect())
    };
    macro_rules! int {
        ($t:ty) => {
            array
                .as_primitive_opt::<$t>()
                .map(|a| Value::from(a.value(i)))
        };
    }
    let value = match array.data_type() {
        DataType::Boolean => array.as_boolean_opt().map(|a| Value::Bool(a.value(i))),
        DataType::Int8 => int!(Int8Type),
        DataType::Int16 => int!(Int16Type),
        DataType::Int32 => int!(Int32Type),
        DataType::Int64 => int!(Int64Type),
        DataType::UInt8 => int!(UInt8Type),
        DataType::UInt16 => int!(UInt16Type),
        DataType::UInt32 => int!(UInt32Type),
        DataType::UInt64 => int!(UInt64Type),
        DataType::Float32 => array
            .as_primitive_opt::<Float32Type>()
            .map(|a| float(f64::from(a.value(i)))),
        DataType::Float64 => array
            .as_primitive_opt::<Float64Type>()
            .map(|a| float(a.value(i))),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => StrColumn::new(array)
            .and_then(|s| s.get(i))
            .map(Value::from),
        DataType::Struct(_) => array.as_struct_opt().map(|s| {
            Value::Object(
                s.fields()
                    .iter()
                    .zip(s.columns())
                    .map(|(f, c)| (f.name().clone(), json_at(c, i)))
                    .collect(),
            )
        }),
        DataType::List(_) => array.as_list_opt::<i32>().map(|l| list(l.value(i))),
        DataType::LargeList(_) => array.as_list_opt::<i64>().map(|l| list(l.value(i))),
        DataType::FixedSizeList(_, _) => array.as_fixed_size_list_opt().map(|l| list(l.value(i))),
        DataType::Dictionary(_, _) => array.as_any_dictionary_opt().and_then(|d| {
            let key = json_at(d.keys(), i).as_u64()?;
            Some(json_at(d.values(), usize::try_from(key).ok()?))
        }),
        _ => None,
    };
    value.unwrap_or(Value::Null)
}
