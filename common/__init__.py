"""The ground floor the apps share: it imports none of them (nor `sniperbot`).

Environment readers (`env`), log redaction (`logfilters`), jobs off the calling thread
(`offthread`), SQLite WAL checkpoints (`sqlite_wal`), JSON values in the API's formats
(`payloads`), the DRF field/filter/pagination kit (`drf`), admin base classes (`admin`) and
the readiness registry each app adds its checks to (`readiness`).
"""
