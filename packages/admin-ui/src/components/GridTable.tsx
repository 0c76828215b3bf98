import type { ReactTable, RowData, TableFeatures } from '@tanstack/react-table';
import { KEYBOARD_ROW } from '../lib/keyboard.ts';
import { columnLabel } from './column-label.ts';

/**
 * The admin's list markup for a TanStack table: header cells with scope, a class per column, and each cell labelled
 * by its column so that narrow screens can show rows as cards; rows are what `j` and `k` move between.
 */
export function GridTable<TFeatures extends TableFeatures, TData extends RowData>({
  table,
  className,
  caption,
  rowAttributes,
}: {
  table: ReactTable<TFeatures, TData>;
  className: string;
  caption?: string | undefined;
  rowAttributes?: (row: TData) => Record<string, string>;
}) {
  return (
    <div className="table-scroll">
      <table className={`grid ${className}`}>
        {caption && <caption className="visually-hidden">{caption}</caption>}
        <thead>
          {table.getHeaderGroups().map((group) => (
            <tr key={group.id}>
              {group.headers.map((header) => (
                <th key={header.id} scope="col" className={`col-${header.column.id}`}>
                  {header.isPlaceholder ? null : <table.FlexRender header={header} />}
                </th>
              ))}
            </tr>
          ))}
        </thead>
        <tbody>
          {table.getRowModel().rows.map((row) => (
            <tr key={row.id} {...{ [KEYBOARD_ROW]: '' }} {...rowAttributes?.(row.original)}>
              {row.getAllCells().map((cell) => (
                <td
                  key={cell.id}
                  className={`col-${cell.column.id}`}
                  data-label={columnLabel(cell.column.columnDef.header, cell.column.id)}
                >
                  <table.FlexRender cell={cell} />
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
