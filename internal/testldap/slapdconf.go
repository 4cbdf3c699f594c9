package testldap

import (
	"fmt"
	"strings"
)

// schemas are the Debian-shipped schemas the account source relies on:
// posixAccount/posixGroup come from nis, which needs core and cosine;
// inetOrgPerson is what person entries are in production. The ppolicy
// schema is compiled into the ppolicy module in OpenLDAP 2.5.
var schemas = []string{"core", "cosine", "nis", "inetorgperson"}

// pageLimit is the per-search size limit for everyone but the rootDN, as on a
// production directory: a search that does not page (or pages by more than
// this) fails with sizeLimitExceeded, so tests notice a client that forgot
// to page.
const pageLimit = 500

// configLDIF is the cn=config tree, loaded with `slapd -Ta -n0` into a
// private slapd.d so nothing touches the system's /etc/ldap.
func (s *Server) configLDIF(certFile, keyFile string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: %[1]s/slapd.pid
olcArgsFile: %[1]s/slapd.args
olcTLSCACertificateFile: %[3]s
olcTLSCertificateFile: %[4]s
olcTLSCertificateKeyFile: %[5]s

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: %[2]s
olcModuleLoad: back_mdb
olcModuleLoad: ppolicy

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

`, s.Dir, moduleDir, s.CAFile, certFile, keyFile)
	for _, name := range schemas {
		fmt.Fprintf(&b, "include: file://%s/%s.ldif\n\n", schemaDir, name)
	}
	// The config database is closed to everyone: tests change data, not
	// the server. NoSync: the data is thrown away after the test anyway.
	fmt.Fprintf(&b, `dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: %[2]s
olcRootDN: %[3]s
olcRootPW: %[4]s
olcDbDirectory: %[1]s/data
olcDbMaxSize: 1073741824
olcDbNoSync: TRUE
olcDbIndex: objectClass eq
olcDbIndex: cn eq,sub
olcDbIndex: uid eq
olcDbIndex: member eq
olcDbIndex: memberUid eq
olcSizeLimit: size.soft=%[5]d size.hard=%[5]d size.prtotal=unlimited
olcAccess: {0}to attrs=userPassword by anonymous auth by * none
olcAccess: {1}to * by * read

dn: olcOverlay={0}ppolicy,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: {0}ppolicy
`, s.Dir, s.Suffix, s.BindDN, s.Password, pageLimit)
	return b.String()
}

// baseLDIF is the skeleton of a Toolforge-like directory (the layout of
// Wikimedia's: tools under ou=people,ou=servicegroups, their groups under
// ou=servicegroups, humans under ou=people), loaded with `slapd -Ta -n1`
// before the server starts.
func (s *Server) baseLDIF() string {
	dc := strings.TrimPrefix(strings.SplitN(s.Suffix, ",", 2)[0], "dc=")
	return fmt.Sprintf(`dn: %[1]s
objectClass: dcObject
objectClass: organization
dc: %[2]s
o: %[2]s

dn: %[3]s
objectClass: organizationalUnit
ou: people

dn: %[4]s
objectClass: organizationalUnit
ou: servicegroups

dn: %[5]s
objectClass: organizationalUnit
ou: people

dn: ou=ppolicies,%[1]s
objectClass: organizationalUnit
ou: ppolicies

dn: %[6]s
objectClass: device
objectClass: pwdPolicy
cn: disabled
pwdAttribute: userPassword
pwdLockout: TRUE

dn: %[7]s
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: reader
userPassword: %[8]s
`, s.Suffix, dc, s.PeopleBase, s.GroupsBase, s.ToolsBase, s.DisabledPolicyDN, s.ReaderDN, s.ReaderPassword)
}
