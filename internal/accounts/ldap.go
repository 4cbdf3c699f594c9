package accounts

import (
	"github.com/toolforge-go/toolforge/internal/accountsource"
)

// loadLDAP reads the LDAP source configuration; --project overrides the
// file's project.
func loadLDAP(path, project string) (accountsource.Source, error) {
	src, err := accountsource.LoadLDAPConfig(path)
	if err != nil {
		return nil, err
	}
	if project != "" {
		src.Project = project
	}
	return src, nil
}
